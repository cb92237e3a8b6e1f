// Progressive enhancement only: every page works without it.
// In the calendar, the keys "p" and "n" follow the previous and next links.
document.addEventListener("keydown", function (event) {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
  var rel = event.key === "n" ? "next" : event.key === "p" ? "prev" : null;
  if (!rel) return;
  var link = document.querySelector('a[rel="' + rel + '"]');
  if (link) window.location.href = link.href;
});
