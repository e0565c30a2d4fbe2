// MathJax for the $…$ / $$…$$ of the proofs (pymdownx.arithmatex, generic mode).
// The MathJax loaded after this file is the site's own copy (javascripts/mathjax/, put there by
// tools/docs_site.py): the math renders offline and from file://, with no request to the network.
window.MathJax = {
  tex: {
    inlineMath: [["\\(", "\\)"]],
    displayMath: [["\\[", "\\]"]],
    processEscapes: true,
    processEnvironments: true,
  },
  svg: { fontCache: "global" },
  options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
};
// With instant navigation the theme swaps pages without a reload: typeset each new page. The
// first page is typeset by MathJax's own start-up, so nothing runs before MathJax is ready.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    const mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise || !mj.typesetPromise) return;
    mj.startup.promise.then(() => {
      mj.startup.output.clearCache();
      mj.typesetClear();
      mj.texReset();
      return mj.typesetPromise();
    });
  });
}
