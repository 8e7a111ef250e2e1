"""sn-store-post: assembles the post document and "stores" it.

Its input is the parallel's object, keyed by branch name: text, urls,
mentions and media. Every branch passed the post id through; they must
agree. There is no database: storing the post means computing the SHA-256
of its canonical JSON, which the result returns as the storage key. The
result also lists the keys of the object it got ("merged").

    wsk action create sn-store-post store_post.py --kind python:3
"""
import hashlib
import json

BRANCHES = ("text", "urls", "mentions", "media")


def main(args):
    missing = [b for b in BRANCHES if not isinstance(args.get(b), dict)]
    if missing:
        return {"error": "sn-store-post: the input lacks the results of %s" % ", ".join(missing)}
    ids = {args[b].get("post_id") for b in BRANCHES}
    if len(ids) != 1 or None in ids:
        return {"error": "sn-store-post: the branches disagree on the post id: %s" % sorted(map(str, ids))}
    post_id = ids.pop()
    text, urls, mentions, media = (args[b] for b in BRANCHES)
    post = {
        "post_id": post_id,
        "author": mentions["author"],
        "text": urls["text"],
        "words": text["words"],
        "hashtags": text["hashtags"],
        "mentions": mentions["mentions"],
        "unknown_mentions": mentions["unknown"],
        "urls": urls["urls"],
        "media": {k: media[k] for k in ("count", "total_bytes", "by_type")},
    }
    canonical = json.dumps(post, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    print("store-post: %s stored as %s" % (post_id, digest))
    return {"post_id": post_id, "stored": True, "content_hash": digest, "merged": sorted(args), "post": post}
