"""Parsing of real and hand-made Gelbooru-0.2 API bodies, URL building, interval bookkeeping."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from crawl import cursor
from crawl.api import ApiError, NotBooruError, list_url, normalise_query, parse_posts
from crawl.download import image_relpath, sniff

API = "https://safebooru.org"
REF = "refdata/safebooru"

# the same shapes as the captured bodies, inline so that the suite does not depend on ../shared
OLD_POST = {
    "directory": "4111",
    "hash": "e0b8bce4a6136ca31be2fdcbc6bad8a7",
    "height": 1400,
    "id": 4296456,
    "image": "938018eca5ada85ae0e5a6c1d3711b6d8851ef1a.jpg",
    "change": 1679041810,
    "rating": "general",
    "sample": False,
    "score": 0,
    "tags": "bow fujiwara_no_mokou hair_bow",
    "width": 1000,
}
ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<response success="false" reason="Search error: API limited due to abuse."/>\n'
)


def test_old_post_without_urls_gets_built_urls():
    [p] = parse_posts(json.dumps([OLD_POST]).encode())
    assert p.id == 4296456 and p.directory == "4111" and p.width == 1000 and p.height == 1400
    assert p.md5 == "e0b8bce4a6136ca31be2fdcbc6bad8a7" and p.score == 0 and p.rating == "general"
    assert p.original_url(API) == f"{API}/images/4111/938018eca5ada85ae0e5a6c1d3711b6d8851ef1a.jpg"
    # no sample: the sample variant is the original
    assert p.sample_variant_url(API) == p.original_url(API)


def test_int_directory_null_score_entities_and_sample_url():
    post = {
        **OLD_POST,
        "directory": 539,
        "score": None,
        "sample": True,
        "image": "6fef.png",
        "tags": "clumsy_nun_(diva) hello_&amp;_goodbye &#039;quote&#039;",
        "source": "https:\\/\\/x.com\\/a?b=1&amp;c=2",
    }
    [p] = parse_posts(json.dumps([post]))
    assert p.directory == "539" and p.score is None
    assert p.tags == ["clumsy_nun_(diva)", "hello_&_goodbye", "'quote'"]
    assert p.source is not None and "&c=2" in p.source
    assert p.sample_variant_url(API) == f"{API}/samples/539/sample_6fef.jpg"


def test_file_url_wins_and_relative_urls_resolve():
    post = {**OLD_POST, "file_url": "//safebooru.org/images/1/a.jpg", "sample_url": "/samples/1/sample_a.jpg"}
    post["sample"] = True
    [p] = parse_posts(json.dumps([post]))
    assert p.original_url(API) == "https://safebooru.org/images/1/a.jpg"
    assert p.sample_variant_url(API) == "https://safebooru.org/samples/1/sample_a.jpg"


def test_error_bodies_and_empty_pages():
    with pytest.raises(ApiError, match="API limited due to abuse"):
        parse_posts(ERROR_XML.encode())
    assert parse_posts(b"") == [] and parse_posts(b"  \n") == [] and parse_posts(b"[]") == []
    assert parse_posts(b'<?xml version="1.0"?><posts count="0" offset="0"></posts>') == []
    with pytest.raises(NotBooruError, match="HTML"):
        parse_posts(b"<!DOCTYPE html><html><body>hello</body></html>")
    with pytest.raises(NotBooruError):
        parse_posts(b'[{"id": 1, "tags": "a"')  # cut off
    with pytest.raises(NotBooruError):
        parse_posts(b"Just some text")
    with pytest.raises(NotBooruError):
        parse_posts(b'[{"no_id": 1}]')


def test_xml_post_list():
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><posts count="2" offset="0">'
        '<post id="12" tags=" a b&amp;c " rating="s" score="" width="10" height="20" md5="abc" '
        'directory="7" image="x.png" file_url="" sample_url="" change="5"/>'
        '<post id="11" tags="d" rating="q" score="3" width="1" height="2" md5="def" '
        'file_url="https://safebooru.org/images/7/y.gif"/></posts>'
    )
    a, b = parse_posts(body)
    assert (a.id, a.tags, a.rating, a.score, a.change) == (12, ["a", "b&c"], "safe", None, 5)
    assert a.original_url(API) == f"{API}/images/7/x.png"
    assert (b.id, b.rating, b.score) == (11, "questionable", 3)
    assert b.original_url(API) == "https://safebooru.org/images/7/y.gif"


def test_captured_refdata_bodies(shared_dir):
    ref = shared_dir / REF
    [new] = parse_posts((ref / "booru-hs_safebooru-org_dapi-json_id6077620.json").read_bytes())
    assert new.id == 6077620 and new.directory == "539" and new.score is None and new.has_sample
    assert new.original_url(API).endswith("/images/539/6fef5929e6e09703b1493c6e5802fa5e4f189639.jpg")
    assert "/samples/539/sample_6fef" in (new.sample_variant_url(API) or "")
    assert "6+girls" in new.tags and new.source == "https://www.threads.com/@diva_hyxpk/post/DOghRhxEgeM"
    [old] = parse_posts((ref / "booru-rs_safebooru-org_dapi-json_id4296456.json").read_bytes())
    assert old.directory == "4111" and not old.has_sample and old.file_url is None
    wrapped = json.loads(
        (ref / "image-crawler-utils_safebooru-org_dapi-json_id2193950_wrapped.json").read_text()
    )
    [p] = parse_posts(json.dumps([wrapped["info"]["info"]]))
    assert p.rating == "safe" and p.score == 1 and p.source and p.source.startswith("うたわれるもの")
    posts = parse_posts((ref / "imgbrd-grabber_gelbooru-com_dapi-xml_results.xml").read_bytes())
    assert len(posts) == 20 and all(p.rating == "safe" for p in posts)
    assert all(p.id and p.md5 and p.tags for p in posts)
    assert any("luck_&_logic" in p.tags for p in posts)  # &amp; in the XML
    with pytest.raises(ApiError, match="abuse"):
        parse_posts((ref / "waifuboard_safebooru-org_dapi-error_pid200001.xml").read_bytes())


def test_list_url_keyset_and_query_checks():
    url = list_url(API + "/", ["1girl", "-monochrome"], 100, before_id=5000)
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    assert parts.path == "/index.php"
    assert q["page"] == ["dapi"] and q["s"] == ["post"] and q["q"] == ["index"] and q["json"] == ["1"]
    assert q["tags"] == ["1girl -monochrome id:<5000"] and q["limit"] == ["100"] and q["pid"] == ["0"]
    assert normalise_query(" 1girl  solo ") == ["1girl", "solo"]
    for bad in ("", "   ", "1girl sort:score", "order:id", "id:<5"):
        with pytest.raises(ValueError):
            normalise_query(bad)


def test_sniff_and_layout():
    assert sniff(b"\x89PNG\r\n\x1a\n0000") == "png"
    assert sniff(b"\xff\xd8\xff\xe0") == "jpg"
    assert sniff(b"GIF89a....") == "gif"
    assert sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "webp"
    assert sniff(b"<!DOCTYPE html>") is None and sniff(b"") is None
    # the crawler accepts exactly what the later stages decode (core.images.sniff_format)
    import io

    from PIL import Image

    from core.images import sniff_format
    from crawl.download import SNIFF_BYTES

    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("WEBP", "webp"), ("BMP", "bmp")):
        buf = io.BytesIO()
        Image.new("RGB", (4, 4)).save(buf, fmt)
        head = buf.getvalue()[:SNIFF_BYTES]
        assert sniff(head) == ext and sniff_format(head) in (ext, "jpeg")
    assert sniff(b"BM not really a bitmap, just text") is None
    assert image_relpath(1234567, "png") == "images/567/1234567.png"
    assert image_relpath(5, "jpg") == "images/005/5.jpg"


def test_intervals_merge_and_count():
    ivs = cursor.add([], 90, 100, 5)
    ivs = cursor.add(ivs, 50, 89, 7)  # the next page down touches the first
    assert ivs == [(50, 100, 12)]
    ivs = cursor.add(ivs, 10, 20, 3)
    assert cursor.find(ivs, 15) == (10, 20, 3) and cursor.find(ivs, 30) is None
    ivs = cursor.add(ivs, 21, 49, 1)  # fills the gap: one range
    assert ivs == [(10, 100, 16)]
    assert cursor.add(ivs, 5, 4, 0) == ivs  # empty page range
