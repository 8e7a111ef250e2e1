"""sn-text: extracts the post text's #hashtags and @mentions and counts its words.

URLs are left out of the extraction (a URL's #fragment is no hashtag). The
post id is passed through.

    wsk action create sn-text text.py --kind python:3
"""
import re

URL = re.compile(r"https?://\S+")
HASHTAG = re.compile(r"(?:^|[^\w#])#(\w+)")
MENTION = re.compile(r"(?:^|[^\w@])@(\w+)")


def unique(items):
    out = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def main(args):
    post = args.get("post") or {}
    text = post.get("text")
    if not isinstance(text, str):
        return {"error": "sn-text: the post has no text"}
    bare = URL.sub(" ", text)
    hashtags = unique(h.lower() for h in HASHTAG.findall(bare))
    mentions = unique(m.lower() for m in MENTION.findall(bare))
    words = len(re.findall(r"\w+", bare)) + len(URL.findall(text))
    print("text: %d words, hashtags %s, mentions %s" % (words, hashtags, mentions))
    return {"post_id": args.get("post_id"), "hashtags": hashtags, "mentions": mentions, "words": words}
