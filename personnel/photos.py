"""Reading an uploaded photo (one file, or a zip of ``<ID number>.jpg``/``.png``) and
normalising it to the card's photo: JPEG, 3:4, ``PHOTO_SIZE`` pixels, turned upright by its
EXIF orientation and with no EXIF kept (no camera, place or time leaves with the card).

Everything here is pure (bytes in, bytes or ``PhotoError`` out): the services in
``personnel.services`` decide who may set whose photo and write it. The limits are checked
before anything is decoded: the file's size, then the pixel count from the header, so a
decompression bomb is refused without being unpacked; a zip's entries are judged from its
directory (count, declared sizes, ratio) before any is read, and each read is bounded."""

from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from core.uploads.base import mb

from . import idcard

PHOTO_SIZE = (300, 400)  # width x height, 3:4 as the 执法证's photo
PHOTO_FORMATS = {"JPEG": "JPEG", "PNG": "PNG"}
PHOTO_MAX_BYTES = 2 * 1024 * 1024
PHOTO_MAX_PIXELS = 40_000_000  # a 50-megapixel camera's 8660x5773 is refused; phones pass
PHOTO_MIN_SIDE = (150, 200)  # smaller would print blurred at 25 x 33 mm
ZIP_MAX_BYTES = 50 * 1024 * 1024
ZIP_MAX_ENTRIES = 5_000
ZIP_MAX_UNPACKED_BYTES = 500 * 1024 * 1024
ZIP_MAX_RATIO = 50  # JPEG and PNG hardly compress; a high ratio is a bomb, not a photo
PHOTO_EXTENSIONS = {".jpg", ".jpeg", ".png"}


class PhotoError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ZipEntryError:
    name: str  # the entry's name in the zip, as the user sees it in their archive tool
    message: str

    def __str__(self) -> str:
        return f"{self.name}: {self.message}"


@dataclass(frozen=True)
class ZipPhoto:
    name: str
    national_id: str
    data: bytes  # normalised JPEG


def photo_normalize(data: bytes) -> bytes:
    """The card photo made of an uploaded file's bytes, or ``PhotoError`` saying why not."""
    if len(data) > PHOTO_MAX_BYTES:
        raise PhotoError(_("照片文件过大（上限 %(n)s MB）") % {"n": mb(PHOTO_MAX_BYTES)})
    if not data:
        raise PhotoError(_("照片文件为空"))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(PHOTO_FORMATS))
            width, height = image.size
            if width * height > PHOTO_MAX_PIXELS:
                raise PhotoError(
                    _("照片像素过多（%(w)d×%(h)d，上限 %(n)d 万像素）")
                    % {"w": width, "h": height, "n": PHOTO_MAX_PIXELS // 10_000}
                )
            if width < PHOTO_MIN_SIDE[0] or height < PHOTO_MIN_SIDE[1]:
                raise PhotoError(
                    _("照片太小（%(w)d×%(h)d，至少 %(mw)d×%(mh)d 像素）")
                    % {"w": width, "h": height, "mw": PHOTO_MIN_SIDE[0], "mh": PHOTO_MIN_SIDE[1]}
                )
            image.load()
    except PhotoError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PhotoError(_("照片像素过多，无法处理")) from None
    except UnidentifiedImageError:
        raise PhotoError(_("不是 JPEG 或 PNG 图片（请检查文件内容，而非扩展名）")) from None
    except (OSError, ValueError, SyntaxError, EOFError):
        raise PhotoError(_("图片文件已损坏，无法读取")) from None
    return _card_crop(image)


def _card_crop(image: Image.Image) -> bytes:
    image = ImageOps.exif_transpose(image)
    if image.mode in ("RGBA", "LA", "P", "PA"):
        image = image.convert("RGBA")
        background = Image.new("RGB", image.size, "white")
        background.paste(image, mask=image.getchannel("A"))
        image = background
    else:
        image = image.convert("RGB")
    # ImageOps.fit: crop the centre to the target ratio, then resize.
    image = ImageOps.fit(image, PHOTO_SIZE, method=Image.Resampling.LANCZOS, centering=(0.5, 0.4))
    out = io.BytesIO()
    # A new image carries no EXIF, ICC or comment; nothing of the original's metadata is kept.
    image.save(out, format="JPEG", quality=90, optimize=True)
    return out.getvalue()


def photos_from_zip(data: bytes) -> tuple[list[ZipPhoto], list[ZipEntryError]]:
    """Every photo of a zip of ``<ID number>.jpg``/``.png``, normalised, and every entry that
    cannot be one with its name and why. Directories, and the ``__MACOSX/`` and dot files an
    archive tool adds, are skipped. The whole archive failing raises ``PhotoError``."""
    if len(data) > ZIP_MAX_BYTES:
        raise PhotoError(_("压缩包过大（上限 %(n)s MB）") % {"n": mb(ZIP_MAX_BYTES)})
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError):
        raise PhotoError(_("不是有效的 zip 压缩包")) from None
    infos = [i for i in infos if not i.is_dir() and not _skipped(i.filename)]
    if not infos:
        raise PhotoError(_("压缩包中没有照片"))
    if len(infos) > ZIP_MAX_ENTRIES:
        raise PhotoError(_("压缩包中文件过多（%(c)d 个，上限 %(n)d 个）") % {"c": len(infos), "n": ZIP_MAX_ENTRIES})
    if sum(i.file_size for i in infos) > ZIP_MAX_UNPACKED_BYTES:
        raise PhotoError(_("压缩包解压后过大（上限 %(n)s MB）") % {"n": mb(ZIP_MAX_UNPACKED_BYTES)})

    photos: list[ZipPhoto] = []
    errors: list[ZipEntryError] = []
    seen: dict[str, str] = {}
    for info in infos:
        name = _display_name(info)
        path = PurePosixPath(info.filename)
        if path.suffix.lower() not in PHOTO_EXTENSIONS:
            errors.append(ZipEntryError(name, _("文件名应为“身份证号.jpg”或“身份证号.png”")))
            continue
        try:
            national_id = idcard.normalize(path.stem)
            idcard.parse(national_id)
        except idcard.IdNumberError as exc:
            errors.append(ZipEntryError(name, _("文件名不是有效的身份证号：%(e)s") % {"e": exc}))
            continue
        if national_id in seen:
            errors.append(ZipEntryError(name, _("与 %(other)s 是同一身份证号") % {"other": seen[national_id]}))
            continue
        seen[national_id] = name
        if info.flag_bits & 0x1:
            errors.append(ZipEntryError(name, _("文件已加密")))
            continue
        if info.file_size > PHOTO_MAX_BYTES:
            errors.append(ZipEntryError(name, _("照片文件过大（上限 %(n)s MB）") % {"n": mb(PHOTO_MAX_BYTES)}))
            continue
        if info.compress_size and info.file_size / info.compress_size > ZIP_MAX_RATIO:
            errors.append(ZipEntryError(name, _("压缩比异常，疑似压缩炸弹")))
            continue
        try:
            with archive.open(info) as member:
                # Bounded whatever the directory declares: one byte more than allowed is enough to refuse.
                raw = member.read(PHOTO_MAX_BYTES + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError):
            errors.append(ZipEntryError(name, _("无法解压此文件")))
            continue
        try:
            photos.append(ZipPhoto(name, national_id, photo_normalize(raw)))
        except PhotoError as exc:
            errors.append(ZipEntryError(name, exc.message))
    return photos, errors


def _skipped(filename: str) -> bool:
    parts = PurePosixPath(filename).parts
    return any(p == "__MACOSX" or p.startswith(".") for p in parts)


def _display_name(info: zipfile.ZipInfo) -> str:
    # Archives made on Chinese Windows store names in GBK without the UTF-8 flag;
    # zipfile then decodes them as cp437. Show them as the user named them.
    if not info.flag_bits & 0x800:
        try:
            return info.filename.encode("cp437").decode("gbk")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return info.filename
