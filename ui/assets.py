"""What the chat pages carry besides Gradio's own: the page script (`HEAD`), the styles of
both pages (`CSS`, and `EMBED_CSS` on top for the embed page) and the copy button's script.
Plain strings, no gradio import: ui/server.py passes them when mounting the pages.
"""


# Our own page script (passed as `head` when mounting): clicking a `[n]` marker opens the
# matching source card (each answer has its own: ui/render.py `source_anchor`) and scrolls its
# highlighted span into view; the copy button of a bubble copies the bubble's clean text (its
# hidden `.nr-copy-src`, ui/render.py `chat_message`) instead of its escaped markup. Event
# delegation on the document, because the chat bubbles are re-rendered on every streamed update.
# A click (or Enter) on an article of the Articles tab's list writes its id, made unique by a
# counter so the same article can be opened again, into the hidden #nr-read-id box, whose
# change event fills the reader.
HEAD = """
<script>
(function () {
  var pendingCopy = null;
  var reads = 0;
  function readArticle(id) {
    var box = document.querySelector('#nr-read-id textarea, #nr-read-id input');
    if (!box || !id) return;
    var setter = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(box), 'value').set;
    reads += 1;
    setter.call(box, id + '#' + reads);
    box.dispatchEvent(new Event('input', {bubbles: true}));
    var reader = document.getElementById('nr-reader');
    if (reader) reader.scrollIntoView({block: 'start'});
  }
  document.addEventListener('keydown', function (ev) {
    var row = ev.key === 'Enter' && ev.target && ev.target.closest
      ? ev.target.closest('#nr-articles tr[data-read]') : null;
    if (row) { ev.preventDefault(); readArticle(row.getAttribute('data-read')); }
  }, true);
  function openSource(details) {
    details.open = true;
    var target = details.querySelector('mark.nr-hl') || details;
    target.scrollIntoView({block: 'center'});
  }
  document.addEventListener('click', function (ev) {
    var t = ev.target && ev.target.closest ? ev.target : null;
    if (!t) return;
    var row = t.closest('#nr-articles [data-read]');
    if (row) {
      ev.preventDefault();
      readArticle(row.getAttribute('data-read'));
      return;
    }
    var a = t.closest('a.nr-cite');
    if (a) {
      ev.preventDefault();
      ev.stopPropagation();
      var id = (a.getAttribute('href') || '').replace('#', '');
      var details = document.getElementById(id);
      if (details) openSource(details);
      return;
    }
    var buttons = t.closest('#nr-chat .message-buttons');
    if (buttons) {  // a bubble's own buttons sit just after its message row
      var row = buttons.previousElementSibling;
      while (row && !(row.classList && row.classList.contains('message-row'))) {
        row = row.previousElementSibling;
      }
      var src = row ? row.querySelector('.nr-copy-src') : null;
      pendingCopy = src ? src.getAttribute('title') : null;
    }
  }, true);
  if (navigator.clipboard && navigator.clipboard.writeText) {
    var write = navigator.clipboard.writeText.bind(navigator.clipboard);
    navigator.clipboard.writeText = function (text) {
      var clean = pendingCopy;
      pendingCopy = null;
      return write(clean !== null ? clean : text);
    };
  }
  document.addEventListener('toggle', function (ev) {
    var d = ev.target;
    if (d && d.classList && d.classList.contains('nr-source') && d.open) {
      var m = d.querySelector('mark.nr-hl');
      if (m) m.scrollIntoView({block: 'nearest'});
    }
  }, true);
})();
</script>
"""


CSS = """
.nr-sources { font-size: 0.95em; }
.nr-source-list { padding-left: 0; list-style: none; margin: 0; }
.nr-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  margin: 0 0 8px 0; padding: 6px 10px; }
.nr-source summary { cursor: pointer; }
.nr-label { font-weight: 700; color: var(--color-accent); }
.nr-title { font-weight: 600; }
.nr-meta { color: var(--body-text-color-subdued); font-size: 0.9em; }
.nr-quote { margin: 6px 0; padding-left: 8px; border-left: 3px solid var(--color-accent);
  font-style: italic; }
.nr-article { white-space: pre-wrap; max-height: 340px; overflow-y: auto; font-size: 0.9em;
  border-top: 1px dashed var(--border-color-primary); padding-top: 6px; }
mark.nr-hl { background: #ffe066; color: #000; padding: 0 1px; }
.nr-abstain { background: var(--background-fill-secondary); padding: 6px 10px;
  border-radius: 6px; }
a.nr-cite { text-decoration: none; font-weight: 700; }
.nr-panel > .nr-sources + .nr-sources { border-top: 2px solid var(--border-color-primary);
  margin-top: 10px; padding-top: 6px; opacity: 0.85; }
.nr-sources-head { font-weight: 600; }
.nr-copy-src { display: none; }
.nr-articles { width: 100%; border-collapse: collapse; }
.nr-articles td, .nr-articles th { border-bottom: 1px solid var(--border-color-primary);
  padding: 4px 6px; text-align: left; vertical-align: top; }
.nr-num { text-align: right; }
.nr-articles tr[data-read] { cursor: pointer; }
.nr-articles tr[data-read]:hover { background: var(--background-fill-secondary); }
a.nr-read { text-decoration: none; color: inherit; font-weight: 600; }
.nr-hidden { display: none !important; }
.nr-reader-view { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 12px; }
.nr-reader-text { white-space: pre-wrap; max-height: 520px; overflow-y: auto; }
"""


# The embed page: narrow iframes, so less padding and a smaller article view.
EMBED_CSS = """
.gradio-container { padding: 4px !important; }
.nr-inline .nr-source { margin: 6px 0 0 0; }
.nr-inline .nr-article { max-height: 200px; }
footer { display: none !important; }
"""


# "Copy answer with sources": the plain text of the last answer to the clipboard.
COPY_JS = """
(text) => {
  if (text && navigator.clipboard) { navigator.clipboard.writeText(text); }
  return [];
}
"""
