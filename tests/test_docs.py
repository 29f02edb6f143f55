"""The documentation in the repository: every relative link points to a file of this
repository (and a heading of it, when it names one), and nothing points outside it, such as
to a shared folder next to the checkout that no clone has."""

import re
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
DOCS = [BASE_DIR / "README.md", BASE_DIR / "bench" / "README.md", *sorted((BASE_DIR / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = ("http://", "https://", "mailto:")
OUTSIDE = "../" + "shared"  # spelt in two so that this file does not find itself
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", "staticfiles", "media", "out"}


def relative_links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)  # code is not links
    return [target for target in LINK.findall(text) if not target.startswith(EXTERNAL)]


def anchor_of(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed,
    spaces to hyphens (CJK characters are word characters and stay)."""
    text = re.sub(r"[`*]", "", heading.strip()).lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return {anchor_of(match) for match in re.findall(r"^#{1,6}\s+(.+?)\s*$", text, flags=re.M)}


def test_the_documents_are_there():
    names = {path.relative_to(BASE_DIR).as_posix() for path in DOCS}

    assert {
        "README.md",
        "bench/README.md",
        "docs/architecture.md",
        "docs/guide-zh.md",
        "docs/api.md",
        "docs/operations.md",
    } <= names


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(BASE_DIR).as_posix())
def test_every_relative_link_points_to_a_file_of_the_repository(doc):
    broken = []
    for target in relative_links(doc):
        file_part, _, anchor = target.partition("#")
        linked = (doc.parent / file_part).resolve() if file_part else doc
        if not linked.is_relative_to(BASE_DIR):
            broken.append(f"{target}: outside the repository")
        elif not linked.exists():
            broken.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(BASE_DIR)}")

    assert broken == [], f"{doc.relative_to(BASE_DIR)}: {broken}"


def test_the_readme_links_every_document_in_docs():
    readme_targets = {target.partition("#")[0] for target in relative_links(BASE_DIR / "README.md")}

    missing = [
        f"docs/{path.name}" for path in (BASE_DIR / "docs").glob("*.md") if f"docs/{path.name}" not in readme_targets
    ]

    assert missing == []
    assert "docs/definitions.md" in readme_targets


def test_nothing_in_the_project_points_to_a_shared_folder_outside_it():
    suffixes = {".md", ".py", ".html", ".txt", ".toml", ".cfg", ".ini", ".yml", ".yaml", ".po"}
    found = []
    for path in BASE_DIR.rglob("*"):
        if any(part in SKIPPED_DIRS for part in path.relative_to(BASE_DIR).parts):
            continue
        is_text = path.suffix in suffixes or path.name in {"Makefile", "run"}
        if is_text and path.is_file() and OUTSIDE in path.read_text(encoding="utf-8", errors="replace"):
            found.append(path.relative_to(BASE_DIR).as_posix())

    assert found == []


def test_anchor_of_follows_githubs_rules():
    assert anchor_of("`bench.load`: /api/v1/me/ and the verify API") == "benchload-apiv1me-and-the-verify-api"
    assert anchor_of("Exams, scores and certificates") == "exams-scores-and-certificates"
    assert anchor_of("`bench.roster_import`: the importer") == "benchroster_import-the-importer"
    assert anchor_of("名册导入") == "名册导入"


@pytest.mark.parametrize("benchmark", ["bench.export", "bench.load", "bench.enroll_storm"])
def test_a_benchmarks_readme_figures_replace_its_previous_ones(benchmark, tmp_path):
    from bench.harness import readme_markers, write_readme_figures

    # given: a copy of bench/README.md, with the benchmark's markers
    readme = tmp_path / "README.md"
    original = (BASE_DIR / "bench" / "README.md").read_text(encoding="utf-8")
    readme.write_text(original, encoding="utf-8")
    begin, end = readme_markers(benchmark)
    assert original.count(begin) == 1 and original.count(end) == 1

    # when: a new run writes its figures, twice
    write_readme_figures(benchmark, "### first run\n", readme)
    write_readme_figures(benchmark, "### latest run\n", readme)

    # then: only the latest stands between the markers, everything around them is unchanged
    text = readme.read_text(encoding="utf-8")
    assert "### first run" not in text
    assert f"{begin}\n### latest run\n{end}" in text
    assert text.split(begin)[0] == original.split(begin)[0]
    assert text.split(end)[1] == original.split(end)[1]


def test_the_api_doc_lists_every_path_of_the_schema(db):
    from drf_spectacular.generators import SchemaGenerator

    # given: the OpenAPI schema the project serves at /api/schema/
    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    text = (BASE_DIR / "docs" / "api.md").read_text(encoding="utf-8")

    # when: each path, relative to /api/v1/, is looked for as a whole word of the doc
    missing = [
        path for path in paths if not re.search(r"[ `]" + re.escape(path.removeprefix("/api/v1/")) + r"[ `]", text)
    ]

    # then
    assert missing == []
