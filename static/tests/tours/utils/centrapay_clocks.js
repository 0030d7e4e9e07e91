/**
 * The countdown clocks a Centrapay screen starts (the POS's QR screen, the
 * customer display), counted in ``window.centrapayClocks`` while they run, so
 * that a tour can check each is cleared when its screen goes. Loaded by both
 * tour bundles (the POS's and the customer display's).
 */

/** Count from now the intervals of ``ms`` started and not yet cleared. */
export function countClocks(ms) {
    const clocks = (window.centrapayClocks = new Set());
    const {setInterval: start, clearInterval: clear} = window;
    window.setInterval = function (fn, every, ...args) {
        const id = start.call(window, fn, every, ...args);
        if (every === ms) {
            clocks.add(id);
        }
        return id;
    };
    window.clearInterval = function (id) {
        clocks.delete(id);
        return clear.call(window, id);
    };
}
