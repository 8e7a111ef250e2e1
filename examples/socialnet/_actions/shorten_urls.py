"""sn-shorten-urls: replaces each URL in the post text with a short one.

The short form is derived from the URL's SHA-256, so the same URL always
shortens the same way (there is no URL database to allocate codes from).
Returns the shortened text and the mapping; the post id is passed through.

    wsk action create sn-shorten-urls shorten_urls.py --kind python:3
"""
import hashlib
import re

URL = re.compile(r"https?://[^\s]+")
SHORT = "https://sn.example/"
TRAILING = ".,;:!?)]}'\""


def short(url):
    return SHORT + hashlib.sha256(url.encode()).hexdigest()[:10]


def main(args):
    post = args.get("post") or {}
    text = post.get("text")
    if not isinstance(text, str):
        return {"error": "sn-shorten-urls: the post has no text"}
    urls = []

    def replace(m):
        url = m.group(0)
        tail = ""
        while url and url[-1] in TRAILING:
            url, tail = url[:-1], url[-1] + tail
        s = short(url)
        if not any(u["url"] == url for u in urls):
            urls.append({"url": url, "short": s})
        return s + tail

    shortened = URL.sub(replace, text)
    print("shorten-urls: %d urls" % len(urls))
    return {"post_id": args.get("post_id"), "text": shortened, "urls": urls}
