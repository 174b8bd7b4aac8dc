"""crawl.sample_site over real HTTP: API shapes, search, paging, images, faults, the CLI."""

from __future__ import annotations

import hashlib
import http.client
import json
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from crawl.sample_site import Faults, SampleSite, SiteConfig
from tests.conftest import ROOT, SHARED

SMALL = (160, 120)
API = {"page": "dapi", "s": "post", "q": "index"}
NEW_KEYS = [
    "preview_url",
    "sample_url",
    "file_url",
    "directory",
    "hash",
    "width",
    "height",
    "id",
    "image",
    "change",
    "owner",
    "parent_id",
    "rating",
    "sample",
    "sample_height",
    "sample_width",
    "score",
    "tags",
    "source",
    "status",
    "has_notes",
    "comment_count",
]
OLD_KEYS = [
    "directory",
    "hash",
    "height",
    "id",
    "image",
    "change",
    "owner",
    "parent_id",
    "rating",
    "sample",
    "sample_height",
    "sample_width",
    "score",
    "tags",
    "width",
]
ABUSE = b'<?xml version="1.0" encoding="UTF-8"?>\n<response success="false" reason="Search error: API limited due to abuse."/>'


@pytest.fixture(scope="module")
def site() -> Iterator[SampleSite]:
    with SampleSite(SiteConfig(n_posts=60, seed=0, image_size=SMALL)) as s:
        yield s


def api(site: SampleSite, **params: Any) -> requests.Response:
    return requests.get(f"{site.url}/index.php", params={**API, **params}, timeout=10)


def all_ids_by_paging(site: SampleSite, limit: int, **params: Any) -> list[int]:
    ids: list[int] = []
    for pid in range(1000):
        r = api(site, json=1, limit=limit, pid=pid, **params)
        assert r.status_code == 200
        if not r.content:
            return ids
        ids += [p["id"] for p in r.json()]
    raise AssertionError("paging never ended")


# -- shapes -----------------------------------------------------------------------------------
def test_json_posts_have_the_2025_shape_and_the_oldest_fifth_the_2023_shape(site: SampleSite) -> None:
    r = api(site, json=1, limit=1000)
    assert r.headers["Content-Type"].startswith("application/json")
    assert b"\\/" in r.content and b"://" not in r.content  # PHP's escaped slashes
    posts = r.json()
    assert [p["id"] for p in posts] == list(range(1059, 999, -1))
    old = [p for p in posts if p["id"] < 1012]
    new = [p for p in posts if p["id"] >= 1012]
    assert len(old) == 12
    for p in new:
        assert list(p) == NEW_KEYS
        assert isinstance(p["directory"], int) and p["rating"] == "general"
        assert p["score"] is None or isinstance(p["score"], int)
        assert p["file_url"] == f"{site.url}/images/{p['directory']}/{p['image']}"
        assert p["preview_url"].endswith(f"/thumbnail_{p['image'].rsplit('.', 1)[0]}.jpg")
    for p in old:
        assert list(p) == OLD_KEYS
        assert isinstance(p["directory"], str) and isinstance(p["score"], int)
    assert any(p["score"] is None for p in new) and any(isinstance(p["score"], int) for p in new)


def _types(post: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in post.items()}


def test_json_matches_the_captured_real_bodies(site: SampleSite, shared_dir: Path) -> None:
    ref = REF
    new_refs = [
        json.loads((ref / "booru-hs_safebooru-org_dapi-json_id6077620.json").read_text())[0],
        json.loads((ref / "waifuboard_safebooru-org_dapi-json_id5979649_docstring.json").read_text())[0],
    ]
    old_ref = json.loads((ref / "booru-rs_safebooru-org_dapi-json_id4296456.json").read_text())[0]
    posts = api(site, json=1, limit=1000).json()
    ours_new = [p for p in posts if "file_url" in p]
    ours_old = [p for p in posts if "file_url" not in p]
    for real in new_refs:
        assert list(ours_new[0]) == list(real)
        allowed = {k: {"int", "NoneType"} if k == "score" else {t} for k, t in _types(real).items()}
        for p in ours_new:
            wrong = {k: t for k, t in _types(p).items() if t not in allowed[k]}
            assert not wrong, (p["id"], wrong)
    assert sorted(ours_old[0]) == sorted(old_ref)
    for p in ours_old:
        assert _types(p) == _types(old_ref) | {"score": "int"}
    # The raw bytes look like the real one: compact, PHP-escaped slashes.
    raw = (ref / "booru-hs_safebooru-org_dapi-json_id6077620.json").read_bytes()
    assert raw.startswith(b'[{"preview_url":"https:\\/\\/')
    assert api(site, json=1, limit=1, tags="id:1030").content.startswith(b'[{"preview_url":"http:\\/\\/')


XML_ATTRS = [
    "height",
    "score",
    "file_url",
    "parent_id",
    "sample_url",
    "sample_width",
    "sample_height",
    "preview_url",
    "rating",
    "tags",
    "id",
    "width",
    "change",
    "md5",
    "creator_id",
    "has_children",
    "created_at",
    "status",
    "source",
    "has_notes",
    "has_comments",
    "preview_width",
    "preview_height",
]
REF = SHARED / "refdata" / "safebooru"


def test_xml_list_has_the_gelbooru_attributes(site: SampleSite) -> None:
    r = api(site, limit=5, pid=2)
    assert r.headers["Content-Type"].startswith("text/xml")
    assert r.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?><posts count="60" offset="10">')
    root = ET.fromstring(r.content)
    assert [int(p.get("id")) for p in root] == [1049, 1048, 1047, 1046, 1045]
    for post in root:
        assert list(post.attrib) == XML_ATTRS
        assert post.get("tags").startswith(" ") and post.get("tags").endswith(" ")
        meta = site.post_meta(int(post.get("id")))
        assert post.get("md5") == meta["hash"] and post.get("file_url") == meta["file_url"]


def test_tags_are_html_escaped_like_the_real_site(site: SampleSite) -> None:
    posts = api(site, json=1, limit=1000).json()
    escaped = [p for p in posts if "&gt;_&lt;" in p["tags"].split()]
    assert escaped, "no post carries >_<"
    assert not any(">_<" in p["tags"] for p in posts)
    # Searching by the plain tag finds them; the XML carries the same escaped text.
    found = api(site, json=1, limit=1000, tags=">_<").json()
    assert {p["id"] for p in found} == {p["id"] for p in escaped}
    root = ET.fromstring(api(site, limit=1000, tags=">_<").content)
    assert all("&gt;_&lt;" in p.get("tags").split() for p in root)


# -- search and paging ---------------------------------------------------------------------------
def test_paging_walks_every_post_once_then_an_empty_body(site: SampleSite) -> None:
    ids = all_ids_by_paging(site, limit=7)
    assert ids == list(range(1059, 999, -1))
    end = api(site, json=1, limit=7, pid=9)
    assert end.status_code == 200 and end.content == b""
    xml_end = ET.fromstring(api(site, limit=7, pid=9).content)
    assert xml_end.get("count") == "60" and len(xml_end) == 0


def test_keyset_paging_with_id_below(site: SampleSite) -> None:
    ids: list[int] = []
    cursor = None
    while True:
        tags = f"id:<{cursor}" if cursor else ""
        r = api(site, json=1, limit=25, tags=tags)
        if not r.content:
            break
        page = [p["id"] for p in r.json()]
        ids += page
        cursor = page[-1]
    assert ids == list(range(1059, 999, -1))
    assert [p["id"] for p in api(site, json=1, tags="id:>=1057").json()] == [1059, 1058, 1057]
    assert [p["id"] for p in api(site, json=1, tags="id:<=1001").json()] == [1001, 1000]
    assert [p["id"] for p in api(site, json=1, tags="id:>1058 sort:id:desc").json()] == [1059]


def test_tag_search_and_exclusion(site: SampleSite) -> None:
    everything = api(site, json=1, limit=1000).json()
    tags_of = {p["id"]: set(p["tags"].split()) for p in everything}
    solo = {p["id"] for p in api(site, json=1, limit=1000, tags="solo").json()}
    assert solo == {i for i, t in tags_of.items() if "solo" in t} and 0 < len(solo) < 60
    not_solo = {p["id"] for p in api(site, json=1, limit=1000, tags="-solo").json()}
    assert not_solo == set(tags_of) - solo
    both = {p["id"] for p in api(site, json=1, limit=1000, tags="solo smile -blue_eyes").json()}
    assert both == {i for i, t in tags_of.items() if {"solo", "smile"} <= t and "blue_eyes" not in t}
    assert len(api(site, json=1, limit=1000, tags="rating:general").json()) == 60
    assert api(site, json=1, tags="rating:explicit").content == b""
    assert api(site, json=1, tags="no_such_tag").content == b""
    assert [p["id"] for p in api(site, json=1, id=1033).json()] == [1033]
    assert api(site, json=1, id=99).content == b""


def test_limit_is_capped_and_defaults_to_100() -> None:
    with SampleSite(SiteConfig(n_posts=1100, image_size=(8, 8))) as big:
        assert len(ET.fromstring(api(big).content)) == 100
        assert len(ET.fromstring(api(big, limit=5000).content)) == 1000


def test_our_constants_match_the_captured_real_bodies(shared_dir: Path) -> None:
    real = (REF / "waifuboard_safebooru-org_dapi-error_pid200001.xml").read_bytes()
    assert real.strip() == ABUSE
    xml = ET.parse(REF / "imgbrd-grabber_gelbooru-com_dapi-xml_results.xml").getroot()
    assert len(xml) == 20 and all(list(post.attrib) == XML_ATTRS for post in xml)


def test_deep_paging_and_bad_parameters_get_the_real_error_body(site: SampleSite) -> None:
    for params in ({"json": 1, "limit": 1, "pid": 200001}, {"limit": 100, "pid": 2001}):
        r = api(site, **params)
        assert r.status_code == 200 and r.content == ABUSE
    assert api(site, json=1, limit=100, pid=2000).content == b""  # exactly at the cap: allowed
    bad = api(site, json=1, limit="abc")
    assert bad.content.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<response success="false"')


def test_paging_cap_is_configurable() -> None:
    with SampleSite(SiteConfig(n_posts=30, image_size=SMALL, faults=Faults(paging_cap=20))) as s:
        assert len(api(s, json=1, limit=10, pid=2).json()) == 10
        assert api(s, json=1, limit=10, pid=3).content == ABUSE


# -- images ---------------------------------------------------------------------------------------
def test_files_match_their_hash_and_sizes(site: SampleSite) -> None:
    posts = api(site, json=1, limit=20).json()
    with requests.Session() as http:
        for p in posts:
            r = http.get(p["file_url"], timeout=10)
            assert r.status_code == 200
            assert hashlib.md5(r.content).hexdigest() == p["hash"]
            assert r.content[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0")
            thumb = http.get(p["preview_url"], timeout=10)
            assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
            assert p["sample"] is False and p["sample_url"] == p["file_url"]


def test_lying_extensions_alpha_and_samples() -> None:
    import cv2
    import numpy as np

    with SampleSite(SiteConfig(n_posts=40, seed=2, image_size=(900, 300))) as s:
        posts = api(s, json=1, limit=100).json()
        lies = alpha = 0
        for post in posts:
            p = s.post_meta(post["id"])
            data = requests.get(p["file_url"], timeout=10).content
            if p["image"].endswith(".jpg") and data.startswith(b"\x89PNG"):
                lies += 1
            img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            alpha += img.ndim == 3 and img.shape[2] == 4
            assert p["sample"] is True and (p["sample_width"], p["sample_height"]) == (850, 283)
        sample = requests.get(posts[0]["sample_url"], timeout=10)
        img = cv2.imdecode(np.frombuffer(sample.content, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape[:2] == (283, 850)
        assert lies >= 1 and alpha >= 1


def test_unknown_paths_are_404(site: SampleSite) -> None:
    p = site.post_meta(1020)
    assert requests.get(f"{site.url}/images/{p['directory']}/{'0' * 40}.png", timeout=5).status_code == 404
    assert requests.get(f"{site.url}/images/999/{p['image']}", timeout=5).status_code == 404
    assert requests.get(f"{site.url}/nothing", timeout=5).status_code == 404
    assert requests.get(f"{site.url}/index.php?page=post&s=list", timeout=5).status_code == 404


def test_duplicates_share_bytes() -> None:
    with SampleSite(SiteConfig(n_posts=12, image_size=SMALL, duplicate_every=4)) as s:
        by_id = {p["id"]: p for p in api(s, json=1).json()}
        assert len({p["hash"] for p in by_id.values()}) == 12 - 2
        assert by_id[1004]["hash"] == by_id[1003]["hash"] and by_id[1008]["hash"] == by_id[1007]["hash"]
        assert by_id[1004]["file_url"] != by_id[1003]["file_url"]
        a, b = (requests.get(by_id[i]["file_url"], timeout=5).content for i in (1003, 1004))
        assert a == b


def test_same_seed_same_site() -> None:
    bodies = []
    for _ in range(2):
        with SampleSite(SiteConfig(n_posts=10, seed=7, image_size=SMALL)) as s:
            body = api(s, json=1).text.replace(s.url.replace("/", "\\/"), "HOST")
            bodies.append((body, s.original_bytes(1005)))
    assert bodies[0] == bodies[1]
    with SampleSite(SiteConfig(n_posts=10, seed=8, image_size=SMALL)) as s:
        assert api(s, json=1).text.replace(s.url.replace("/", "\\/"), "HOST") != bodies[0][0]


def test_many_clients_at_once(site: SampleSite) -> None:
    urls = [site.post_meta(p["id"])["file_url"] for p in api(site, json=1, limit=60).json()]
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda u: requests.get(u, timeout=20).status_code, urls * 2))
    assert codes == [200] * 120


# -- faults ---------------------------------------------------------------------------------------
def _fault_site(**faults: Any) -> SampleSite:
    return SampleSite(SiteConfig(n_posts=30, image_size=SMALL, faults=Faults(**faults)))


def test_429_fires_once_per_url_with_retry_after() -> None:
    with _fault_site(rate_429=1.0, retry_after=2.5) as s:
        first = api(s, json=1, limit=5)
        assert first.status_code == 429 and first.headers["Retry-After"] == "2.5"
        again = api(s, json=1, limit=5)
        assert again.status_code == 200 and len(again.json()) == 5
        url = again.json()[0]["file_url"]
        assert requests.get(url, timeout=5).status_code == 429
        assert requests.get(url, timeout=5).status_code == 200
        assert [r.status for r in s.requests] == [429, 200, 429, 200]


def test_5xx_fires_once_per_url() -> None:
    with _fault_site(rate_5xx=1.0) as s:
        assert api(s, json=1, limit=5).status_code in (500, 502, 503)
        assert api(s, json=1, limit=5).status_code == 200


def test_dropped_connection_then_success() -> None:
    with _fault_site(rate_drop=1.0) as s:
        with pytest.raises(requests.ConnectionError):
            api(s, json=1, limit=5)
        assert api(s, json=1, limit=5).status_code == 200
        assert [r.status for r in s.requests] == [0, 200]


def test_truncated_image_then_full() -> None:
    with _fault_site(rate_truncate=1.0) as s:
        meta = s.post_meta(1010)  # API requests are never truncated
        full = s.original_bytes(1010)
        parts = urlsplit(meta["file_url"])
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
        conn.request("GET", parts.path)
        resp = conn.getresponse()
        assert resp.status == 200 and int(resp.headers["Content-Length"]) == len(full)
        with pytest.raises(http.client.IncompleteRead) as e:
            resp.read()
        assert 0 < len(e.value.partial) < len(full)
        conn.close()
        assert requests.get(meta["file_url"], timeout=5).content == full


def test_empty_page_in_the_middle_then_full() -> None:
    with _fault_site(rate_empty_page=1.0) as s:
        assert api(s, json=1, limit=10, pid=1).content == b""
        assert len(api(s, json=1, limit=10, pid=1).json()) == 10
        assert len(api(s, json=1, limit=10, pid=2).json()) == 10  # the last page is never emptied


def test_partial_rates_hit_some_urls_and_retries_always_succeed() -> None:
    with _fault_site(rate_429=0.2, rate_5xx=0.2, retry_after=0) as s:
        urls = [s.post_meta(p["id"])["file_url"] for p in api_retry(s, json=1, limit=30).json()]
        first = [requests.get(u, timeout=5).status_code for u in urls]
        assert 0 < sum(c != 200 for c in first) < 30
        assert all(requests.get(u, timeout=5).status_code == 200 for u in urls)


def api_retry(site: SampleSite, **params: Any) -> requests.Response:
    for _ in range(3):
        r = api(site, **params)
        if r.status_code == 200:
            return r
    raise AssertionError("no success after retries")


def test_permanent_faults_always_fire() -> None:
    with _fault_site(
        html_posts=frozenset({1001}), offsite_posts=frozenset({1002}), missing_posts=frozenset({1003})
    ) as s:
        for _ in range(2):
            page = requests.get(s.post_meta(1001)["file_url"], timeout=5)
            assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
            assert page.content.startswith(b"<!DOCTYPE html>")
            moved = requests.get(s.post_meta(1002)["file_url"], timeout=5, allow_redirects=False)
            assert moved.status_code == 302
            assert moved.headers["Location"].startswith("http://other-host.invalid/images/")
            assert requests.get(s.post_meta(1003)["file_url"], timeout=5).status_code == 404
        assert requests.get(s.post_meta(1004)["file_url"], timeout=5).status_code == 200


def _jpeg_and_png(s: SampleSite) -> tuple[int, int]:
    ids = s.post_ids
    jpeg = next(i for i in ids if s.original_bytes(i).startswith(b"\xff\xd8\xff"))
    png = next(i for i in ids if s.original_bytes(i).startswith(b"\x89PNG"))
    return jpeg, png


def test_corrupt_bodies_keep_the_signature_and_the_length() -> None:
    import cv2
    import numpy as np

    with _fault_site() as probe:
        jpeg, png = _jpeg_and_png(probe)
    with _fault_site(corrupt_posts=frozenset({jpeg, png})) as s:
        for pid, ctype, magic in (
            (jpeg, "image/jpeg", b"\xff\xd8\xff"),
            (png, "image/png", b"\x89PNG\r\n\x1a\n"),
        ):
            good = s.original_bytes(pid)
            for _ in range(2):  # a per-post fault: every time
                r = requests.get(s.post_meta(pid)["file_url"], timeout=5)
                assert r.status_code == 200 and r.headers["Content-Type"] == ctype
                assert r.content.startswith(magic) and len(r.content) == len(good) and r.content != good
                assert cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED) is None
            assert s.post_meta(pid)["hash"] == hashlib.md5(good).hexdigest()  # the API is right
    with _fault_site(rate_corrupt=1.0) as s:  # the transient one: the first request only
        url, good = s.post_meta(jpeg)["file_url"], s.original_bytes(jpeg)
        assert requests.get(url, timeout=5).content != good
        assert requests.get(url, timeout=5).content == good


def test_wrong_md5_in_the_api_only() -> None:
    with _fault_site(wrong_md5_posts=frozenset({1007})) as s:
        good = hashlib.md5(s.original_bytes(1007)).hexdigest()
        listed = {p["id"]: p["hash"] for p in api(s, json=1, limit=30).json()}
        xml = {int(p.get("id")): p.get("md5") for p in ET.fromstring(api(s, limit=30).content)}
        assert listed[1007] == xml[1007] != good and len(listed[1007]) == 32
        assert listed[1008] == hashlib.md5(s.original_bytes(1008)).hexdigest()
        assert hashlib.md5(requests.get(s.post_meta(1007)["file_url"], timeout=5).content).hexdigest() == good


def test_image_requests_are_counted_per_post() -> None:
    with _fault_site() as s:
        for pid in (1003, 1003, 1004):
            requests.get(s.post_meta(pid)["file_url"], timeout=5)
        requests.get(s.post_meta(1004)["preview_url"], timeout=5)
        api(s, json=1, limit=2)
        assert s.image_requests_by_post() == {1003: 2, 1004: 1}
        assert s.image_requests_by_post("thumbnails") == {1004: 1}


def test_latency_is_added_to_each_request() -> None:
    with SampleSite(SiteConfig(n_posts=3, image_size=SMALL, latency_s=0.3)) as s:
        t0 = time.monotonic()
        api(s, json=1)
        assert time.monotonic() - t0 >= 0.3


# -- growth and the request log ----------------------------------------------------------------
def test_add_posts_publishes_newer_ids() -> None:
    with SampleSite(SiteConfig(n_posts=10, image_size=SMALL)) as s:
        before = {p["id"] for p in api(s, json=1).json()}
        new = s.add_posts(3)
        assert new == [1010, 1011, 1012]
        assert [p["id"] for p in api(s, json=1, tags="id:>1009").json()] == [1012, 1011, 1010]
        assert {p["id"] for p in api(s, json=1).json()} == before | set(new)
        assert all("file_url" in p for p in api(s, json=1, tags="id:>1009").json())


def test_request_log_records_each_request(site: SampleSite) -> None:
    site.reset_log()
    api(site, json=1, limit=2, tags="solo")
    requests.get(f"{site.url}/missing", timeout=5)
    log = site.requests
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/index.php", 200),
        ("GET", "/missing", 404),
    ]
    assert log[0].query == {**API, "json": "1", "limit": "2", "tags": "solo"}
    assert log[0].time <= log[1].time
    site.reset_log()
    assert site.requests == []


# -- the CLI --------------------------------------------------------------------------------------
def test_cli_serves_until_interrupted() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "prep", "sample-site", "--port", "0", "--posts", "5", "--seed", "3"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line.startswith("sample site: http://127.0.0.1:"), line
        url = line.split()[2]
        r = requests.get(f"{url}/index.php", params={**API, "json": 1}, timeout=10)
        assert [p["id"] for p in r.json()] == [1004, 1003, 1002, 1001, 1000]
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_rejects_bad_options() -> None:
    from tests.conftest import run_cli

    r = run_cli("prep", "sample-site", "--fault-429", "1.5")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "prep: error: --fault-429 must be a share between 0 and 1 (e.g. 0.1 for one request in ten), got 1.5"
    ]
    r = run_cli("prep", "sample-site", "--posts", "-1")
    assert r.returncode == 2 and "--posts" in r.stderr and "Traceback" not in r.stderr
