"""Text from users, links, files and run folders, shown as text: never as Markdown.

Streamlit renders the body of st.markdown, st.error, st.warning, st.info and st.caption as Markdown, so a
run name, a status reason, an uploaded file's name or a shared link's query value put into one of them
could add a link, a remote image (fetched by every viewer's browser), a heading or LaTeX to the app's
own message. Every such value goes through plain() on its way into a Markdown string.
"""
import re

# ASCII punctuation, the characters CommonMark lets a backslash escape (spec section 2.4): escaped, no
# bracket opens a link or image, no * or _ emphasis, no ` code, no $ maths, no # heading, no < autolink,
# no "http://" or "www." link of GitHub Flavoured Markdown (their ':' and '.' are escaped too).
_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def plain(text: object) -> str:
    """text as a Markdown fragment that shows exactly its characters, on one line."""
    return _PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))


def shown(markdown: str) -> str:
    """What a reader sees of a Markdown fragment made by plain(): its backslash escapes resolved."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)
