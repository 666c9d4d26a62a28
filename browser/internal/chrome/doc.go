// Package chrome starts headless Chromium for a test and runs a page in
// it: it finds the browser (Debian's /usr/bin/chromium, or
// PLEXUS_CHROMIUM), starts it with a fresh profile and the flags a
// machine without network access needs, loads a URL, waits for the page
// to report its result through a JavaScript global, and can take a
// screenshot.
//
// Lifetime: a Browser lives until its Close (a test's Cleanup); its
// process and profile directory go with it. Concurrency: one page at a
// time per Browser; Browsers are independent.
package chrome
