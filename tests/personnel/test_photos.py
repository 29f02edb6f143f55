"""Inspector photos: one through the admin form or the service, many from a zip; the file's
real format, its size and pixel limits, the card's 3:4, EXIF gone; nothing written from a zip
with any bad entry, each bad entry named; the actor's scope."""

import io
import zipfile

import pytest
from django.test import Client
from PIL import Image

from core.errors import AccessDenied, ValidationFailed
from personnel import photos, services
from personnel.models import Inspector, InspectorEvent
from tests.factories import InspectorFactory, national_id_for


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def image_bytes(size=(600, 900), fmt="JPEG", color=(200, 40, 40), exif_orientation=None, mode="RGB") -> bytes:
    image = Image.new(mode, size, color)
    out = io.BytesIO()
    kwargs = {}
    if exif_orientation:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation
        exif[0x010F] = "CameraMaker"
        kwargs["exif"] = exif
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def zip_of(entries: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


# --- the file itself


def test_a_photo_is_cropped_to_3_4_resized_and_loses_its_exif():
    # given a landscape photo whose EXIF says "rotate 90°" and names the camera
    data = image_bytes(size=(900, 600), exif_orientation=6)
    # when
    out = Image.open(io.BytesIO(photos.photo_normalize(data)))
    # then upright (portrait), the card's size, a JPEG without EXIF
    assert out.format == "JPEG"
    assert out.size == photos.PHOTO_SIZE
    assert not out.getexif()
    assert "exif" not in out.info


def test_a_png_with_transparency_becomes_a_jpeg_on_white():
    data = image_bytes(fmt="PNG", mode="RGBA", color=(0, 0, 0, 0))
    out = Image.open(io.BytesIO(photos.photo_normalize(data)))
    assert out.format == "JPEG"
    assert out.getpixel((150, 200))[0] > 240


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (image_bytes(fmt="GIF", mode="P"), "不是 JPEG 或 PNG"),
        (b"GIF89a not really", "不是 JPEG 或 PNG"),
        (b"%PDF-1.4 a document named photo.jpg", "不是 JPEG 或 PNG"),
        (image_bytes()[:200], "损坏"),
        (image_bytes(size=(100, 120)), "太小"),
        (b"", "为空"),
    ],
)
def test_a_bad_file_is_refused_with_why(data, says):
    with pytest.raises(photos.PhotoError) as refused:
        photos.photo_normalize(data)
    assert says in refused.value.message


def test_a_file_over_the_size_limit_is_refused_before_reading(monkeypatch):
    monkeypatch.setattr(photos, "PHOTO_MAX_BYTES", 1000)
    with pytest.raises(photos.PhotoError) as refused:
        photos.photo_normalize(image_bytes())
    assert "过大" in refused.value.message


def test_too_many_pixels_is_refused_from_the_header():
    # given a PNG of 8000 x 6000 that compresses to little (a decompression bomb in miniature)
    data = image_bytes(size=(8000, 6000), fmt="PNG", mode="1", color=0)
    assert len(data) < photos.PHOTO_MAX_BYTES
    # when / then
    with pytest.raises(photos.PhotoError) as refused:
        photos.photo_normalize(data)
    assert "像素过多" in refused.value.message


def test_a_decompression_bomb_beyond_pillows_limit_gets_a_clear_error():
    data = image_bytes(size=(20000, 20000), fmt="PNG", mode="1", color=0)
    with pytest.raises(photos.PhotoError) as refused:
        photos.photo_normalize(data)
    assert "像素过多" in refused.value.message


# --- one inspector


def test_the_service_sets_the_photo_and_records_the_event(county_admin, regions):
    # given
    inspector = InspectorFactory(region=regions["changan"])
    # when
    services.inspector_photo_set(actor=county_admin, inspector=inspector, data=image_bytes())
    # then
    inspector.refresh_from_db()
    assert inspector.photo.name.startswith("photos/")
    assert Image.open(inspector.photo.path).size == photos.PHOTO_SIZE
    event = InspectorEvent.objects.get(inspector=inspector, kind=InspectorEvent.Kind.PHOTO_SET)
    assert event.changes["photo"] == [None, inspector.photo.name]


def test_replacing_a_photo_removes_the_old_file(county_admin, regions, django_capture_on_commit_callbacks):
    inspector = InspectorFactory(region=regions["changan"])
    with django_capture_on_commit_callbacks(execute=True):
        services.inspector_photo_set(actor=county_admin, inspector=inspector, data=image_bytes())
    old_path = Inspector.objects.get(pk=inspector.pk).photo.path
    with django_capture_on_commit_callbacks(execute=True):
        services.inspector_photo_set(actor=county_admin, inspector=inspector, data=image_bytes(color=(0, 0, 255)))
    inspector.refresh_from_db()
    assert inspector.photo.path != old_path
    assert not __import__("os").path.exists(old_path)


def test_a_bad_photo_is_a_validation_refusal_and_nothing_changes(county_admin, regions):
    inspector = InspectorFactory(region=regions["changan"])
    with pytest.raises(ValidationFailed) as refused:
        services.inspector_photo_set(actor=county_admin, inspector=inspector, data=b"not an image")
    assert "photo" in refused.value.fields
    inspector.refresh_from_db()
    assert not inspector.photo
    assert not InspectorEvent.objects.filter(kind=InspectorEvent.Kind.PHOTO_SET).exists()


def test_an_admin_cannot_set_a_photo_outside_their_scope(county_admin, regions):
    inspector = InspectorFactory(region=regions["lunan"])
    with pytest.raises(AccessDenied):
        services.inspector_photo_set(actor=county_admin, inspector=inspector, data=image_bytes())
    inspector.refresh_from_db()
    assert not inspector.photo


# --- many from a zip


def test_a_zip_sets_every_photo_with_one_event_each(city_admin, regions):
    # given
    a = InspectorFactory(region=regions["changan"])
    b = InspectorFactory(region=regions["qiaoxi"])
    archive = zip_of(
        {f"照片/{a.national_id}.jpg": image_bytes(), f"{b.national_id.lower()}.PNG": image_bytes(fmt="PNG")}
    )
    # when
    result = services.inspector_photos_import(actor=city_admin, data=archive)
    # then
    assert result.ok and result.written == 2
    assert all(i.photo for i in Inspector.objects.filter(pk__in=[a.pk, b.pk]))
    assert InspectorEvent.objects.filter(kind=InspectorEvent.Kind.PHOTO_SET).count() == 2


def test_a_zip_with_a_bad_entry_writes_nothing_and_names_each_bad_entry(city_admin, regions):
    # given one good photo, a PDF named .jpg, a name that is not an ID number, one unknown
    # number and one held outside the scope
    good = InspectorFactory(region=regions["changan"])
    outside = InspectorFactory(region=regions["lunan"])
    unknown = national_id_for("130102", birth="19800101")
    pdf = national_id_for("130102", birth="19900101")
    archive = zip_of(
        {
            f"{good.national_id}.jpg": image_bytes(),
            f"{pdf}.jpg": b"%PDF-1.4",
            "张三.jpg": image_bytes(),
            f"{unknown}.jpg": image_bytes(),
            f"{outside.national_id}.jpg": image_bytes(),
            "readme.txt": b"hello",
            "__MACOSX/._x.jpg": b"junk",
        }
    )
    # when
    result = services.inspector_photos_import(actor=city_admin, data=archive)
    # then
    assert not result.ok and result.written == 0
    named = {e.name: e.message for e in result.errors}
    assert set(named) == {
        f"{pdf}.jpg",
        "张三.jpg",
        f"{unknown}.jpg",
        f"{outside.national_id}.jpg",
        "readme.txt",
    }
    assert "不是 JPEG 或 PNG" in named[f"{pdf}.jpg"]
    assert "身份证号" in named["张三.jpg"]
    # unknown and outside the scope read alike: nothing said about people the actor may not see
    assert named[f"{unknown}.jpg"] == named[f"{outside.national_id}.jpg"]
    assert not Inspector.objects.exclude(photo="").exists()
    assert not InspectorEvent.objects.filter(kind=InspectorEvent.Kind.PHOTO_SET).exists()


def test_a_zip_bomb_and_too_many_entries_are_refused(city_admin, regions, monkeypatch):
    inspector = InspectorFactory(region=regions["changan"])
    bomb = zip_of({f"{inspector.national_id}.jpg": b"\0" * (1024 * 1024)}, compression=zipfile.ZIP_DEFLATED)
    result = services.inspector_photos_import(actor=city_admin, data=bomb)
    assert not result.ok
    assert "压缩" in result.errors[0].message

    monkeypatch.setattr(photos, "ZIP_MAX_ENTRIES", 2)
    many = zip_of({f"{n}.jpg": b"x" for n in range(3)})
    result = services.inspector_photos_import(actor=city_admin, data=many)
    assert "文件过多" in result.errors[0].message


def test_a_file_that_is_not_a_zip_is_refused(city_admin):
    result = services.inspector_photos_import(actor=city_admin, data=b"PK\x03\x04 broken")
    assert not result.ok
    assert "zip" in result.errors[0].message


def test_an_inspector_cannot_import_photos(inspector_user):
    with pytest.raises(AccessDenied):
        services.inspector_photos_import(actor=inspector_user, data=zip_of({}))


# --- the admin pages


def test_the_admin_form_uploads_a_photo_and_shows_it(county_admin, regions):
    # given
    inspector = InspectorFactory(region=regions["changan"], name="照片甲")
    browser = Client()
    browser.force_login(county_admin)
    url = f"/admin/personnel/inspector/{inspector.pk}/change/"
    form = browser.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("user", "national_id", "photo_file")}
    data["region"] = inspector.region_id
    upload = io.BytesIO(image_bytes())
    upload.name = "me.jpg"
    # when
    response = browser.post(url, {**data, "photo_file": upload})
    # then
    assert response.status_code == 302, response.context["adminform"].form.errors
    inspector.refresh_from_db()
    assert inspector.photo
    page = browser.get(url).content.decode()
    assert f"/admin/personnel/inspector/{inspector.pk}/photo/" in page
    served = browser.get(f"/admin/personnel/inspector/{inspector.pk}/photo/")
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"


def test_the_admin_form_refuses_a_bad_photo_on_the_field(county_admin, regions):
    inspector = InspectorFactory(region=regions["changan"])
    browser = Client()
    browser.force_login(county_admin)
    url = f"/admin/personnel/inspector/{inspector.pk}/change/"
    form = browser.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("user", "national_id", "photo_file")}
    data["region"] = inspector.region_id
    upload = io.BytesIO(b"GIF89a")
    upload.name = "me.jpg"
    response = browser.post(url, {**data, "photo_file": upload})
    assert response.status_code == 200
    assert "不是 JPEG 或 PNG" in str(response.context["adminform"].form.errors["photo_file"])


def test_a_photo_is_served_only_inside_the_scope(county_admin, province_admin, regions):
    inspector = InspectorFactory(region=regions["lunan"])
    services.inspector_photo_set(actor=province_admin, inspector=inspector, data=image_bytes())
    browser = Client()
    browser.force_login(county_admin)
    assert browser.get(f"/admin/personnel/inspector/{inspector.pk}/photo/").status_code == 404
    browser.force_login(province_admin)
    assert browser.get(f"/admin/personnel/inspector/{inspector.pk}/photo/").status_code == 200


def test_the_zip_page_lists_bad_entries(city_admin, regions):
    browser = Client()
    browser.force_login(city_admin)
    assert "批量上传照片" in browser.get("/admin/personnel/inspector/").content.decode()
    upload = io.BytesIO(zip_of({"张三.jpg": image_bytes()}))
    upload.name = "photos.zip"
    page = browser.post("/admin/personnel/inspector/photos/", {"file": upload}).content.decode()
    assert "未写入任何照片" in page
    assert "张三.jpg" in page


def test_the_statements_of_a_zip_import_do_not_grow_with_its_photos(city_admin, regions):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(n: int) -> int:
        people = [InspectorFactory(region=regions["changan"]) for _ in range(n)]
        archive = zip_of({f"{p.national_id}.jpg": image_bytes(size=(300, 400)) for p in people})
        with CaptureQueriesContext(connection) as run:
            assert services.inspector_photos_import(actor=city_admin, data=archive).written == n
        return len(run.captured_queries)

    assert statements(2) == statements(10)
