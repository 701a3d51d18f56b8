// Clicking a legend entry hides or shows its line. The page is complete
// without this script.
document.querySelectorAll('figure.chart ul.legend li').forEach(function (li) {
  li.setAttribute('role', 'button');
  li.setAttribute('tabindex', '0');
  li.setAttribute('aria-pressed', 'true');
  li.style.cursor = 'pointer';
  function toggle() {
    var fig = li.closest('figure');
    var g = fig ? fig.querySelector('g.line[data-index="' + li.dataset.index + '"]') : null;
    if (!g) { return; }
    var off = g.classList.toggle('hidden');
    li.classList.toggle('off', off);
    li.setAttribute('aria-pressed', off ? 'false' : 'true');
  }
  li.addEventListener('click', toggle);
  li.addEventListener('keydown', function (e) {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(); }
  });
});
