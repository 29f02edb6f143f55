"""What the server-side accessibility checks of the admin grids read from a rendered page: the
accessible name of each form control (aria-labelledby, aria-label, a <label for>, or a
wrapping <label>, as a browser computes it for these simple cases), and any inline script,
on* attribute or inline style the Content-Security-Policy would block. Standard library
only (html.parser): the browser test (tests/e2e/test_grids_a11y.py) runs axe-core itself."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
CONTROLS = {"input", "select", "textarea", "button"}


@dataclass
class Node:
    tag: str
    attrs: dict
    parent: Node | None = field(default=None, repr=False)
    children: list = field(default_factory=list, repr=False)  # Node or str

    def text(self) -> str:
        parts = [c if isinstance(c, str) else c.text() for c in self.children]
        return " ".join(" ".join(parts).split())

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent


class _Builder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#root", {})
        self.current = self.root
        self.nodes: list[Node] = []

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        self.nodes.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, {k: (v or "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        self.nodes.append(node)

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


@dataclass
class Page:
    nodes: list[Node]
    by_id: dict[str, Node]

    def controls(self, within_id: str) -> list[Node]:
        """The form controls inside the element with this id (hidden inputs left out)."""
        scope = self.by_id[within_id]
        return [
            n for n in self.nodes if n.tag in CONTROLS and n.attrs.get("type") != "hidden" and scope in n.ancestors()
        ]

    def name(self, node: Node) -> str:
        """The control's accessible name (the first rule that gives one, as the spec orders them)."""
        if node.attrs.get("aria-labelledby"):
            return " ".join(self.by_id[ref].text() for ref in node.attrs["aria-labelledby"].split())
        if node.attrs.get("aria-label", "").strip():
            return node.attrs["aria-label"].strip()
        if node.attrs.get("id"):
            for label in (n for n in self.nodes if n.tag == "label" and n.attrs.get("for") == node.attrs["id"]):
                return label.text()
        for ancestor in node.ancestors():
            if ancestor.tag == "label":
                return ancestor.text()
        if node.tag == "button":
            return node.text()
        if node.tag == "input" and node.attrs.get("type") in ("submit", "button", "reset"):
            return node.attrs.get("value", "")
        return ""

    def described_by(self, node: Node) -> str:
        return " ".join(self.by_id[ref].text() for ref in node.attrs.get("aria-describedby", "").split())


def parse(html: str) -> Page:
    builder = _Builder()
    builder.feed(html)
    by_id = {}
    for node in builder.nodes:
        if node.attrs.get("id"):
            assert node.attrs["id"] not in by_id, f"duplicate id {node.attrs['id']!r}"
            by_id[node.attrs["id"]] = node
    return Page(builder.nodes, by_id)


def csp_blocked(html: str) -> list[str]:
    """Inline <script> and <style> elements, on* attributes and style= attributes: what a
    Content-Security-Policy of script-src 'self' and style-src 'self' refuses to run."""
    page = parse(html)
    found = []
    for node in page.nodes:
        if node.tag == "script" and not node.attrs.get("src") and node.attrs.get("type") != "application/json":
            found.append(f"<script> {node.text()[:60]!r}")
        if node.tag == "style":
            found.append(f"<style> {node.text()[:60]!r}")
        found += [f"<{node.tag} {a}=...>" for a in node.attrs if re.fullmatch(r"on[a-z]+", a)]
        if "style" in node.attrs:
            found.append(f"<{node.tag} style={node.attrs['style']!r}>")
    return found
