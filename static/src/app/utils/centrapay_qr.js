/**
 * The Centrapay-branded QR code of a pay URL, drawn in the POS (CP-CORE-5): the
 * server only hands over the URL, so a rush of tills pressing Pay costs it no
 * rendering. ZXing is the library the POS loads already (window.ZXing).
 */

// Centrapay's mark (its 420 x 420 box), the one copy: inlined, as an SVG shown
// through <img> cannot load anything outside itself.
const MARK_VIEWBOX = "0 0 420 420";
const MARK_PATH =
    "M347.57 120.66V76.47C347.57 69.59 341.99 64 335.1 64H240.97C234.09 64 228.5 69.58 228.5 76.47V124.81C228.5 131.69 234.08 137.28 240.97 137.28H330.39C339.56 137.28 347 144.72 347 153.89V193.4C347 202.57 339.56 210.01 330.39 210.01H226.57C217.4 210.01 209.96 202.57 209.96 193.4V149.63C209.96 142.75 204.38 137.16 197.49 137.16H85.38C78.5 137.16 72.91 142.74 72.91 149.63V193.56C72.91 202.73 65.47 210.17 56.3 210.17H12.47C5.59 210.17 0 215.75 0 222.64V270.7C0 277.58 5.58 283.17 12.47 283.17H56.22C65.39 283.17 72.83 290.61 72.83 299.78V343.97C72.83 350.85 78.41 356.44 85.3 356.44H179.43C186.31 356.44 191.9 350.86 191.9 343.97V295.63C191.9 288.75 186.32 283.16 179.43 283.16H89.61C80.44 283.16 73 275.72 73 266.55V227.04C73 217.87 80.44 210.43 89.61 210.43H193.34C202.51 210.43 209.95 217.87 209.95 227.04V270.81C209.95 277.69 215.53 283.28 222.42 283.28H334.53C341.41 283.28 347 277.7 347 270.81V226.89C347 217.72 354.44 210.28 363.61 210.28H407.53C414.41 210.28 420 204.7 420 197.81V149.75C420 142.87 414.42 137.28 407.53 137.28H364.18C355.01 137.28 347.57 129.84 347.57 120.67V120.66Z";
const MARK_COLOR = "#FF5C00";
// Quiet zone, in modules.
const MARGIN = 2;
// The white plate under the mark, as a share of the side: under 5% of the
// code's area, which level H (30% correctable) reads through.
const PLATE = 0.22;
// Pixels per module of the image's own size: what a reader draws it at.
const MODULE_PX = 8;

/** The modules of ``url`` (quiet zone included) as one SVG path. */
function modulesPath(url) {
    const {
        BarcodeFormat,
        EncodeHintType,
        QRCodeDecoderErrorCorrectionLevel,
        QRCodeWriter,
    } = window.ZXing;
    const hints = new Map([
        [EncodeHintType.ERROR_CORRECTION, QRCodeDecoderErrorCorrectionLevel.H],
        [EncodeHintType.MARGIN, MARGIN],
    ]);
    // Width and height 0: one matrix cell per module.
    const matrix = new QRCodeWriter().encode(url, BarcodeFormat.QR_CODE, 0, 0, hints);
    const size = matrix.getWidth();
    const runs = [];
    for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
            if (!matrix.get(x, y)) {
                continue;
            }
            const start = x;
            while (x + 1 < size && matrix.get(x + 1, y)) {
                x++;
            }
            const length = x - start + 1;
            runs.push(`M${start} ${y}h${length}v1h-${length}z`);
        }
    }
    return {size, path: runs.join("")};
}

/** The QR code of exactly ``url``, Centrapay's mark in its centre, as an SVG data URI. */
export function centrapayQrDataUri(url) {
    const {size, path} = modulesPath(url);
    const box = size * PLATE;
    const start = (size - box) / 2;
    const mark = box * 0.8;
    const svg =
        `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${size} ${size}" ` +
        `width="${size * MODULE_PX}" height="${size * MODULE_PX}">` +
        `<rect width="${size}" height="${size}" fill="#ffffff"/>` +
        `<path d="${path}" fill="#000000" shape-rendering="crispEdges"/>` +
        `<rect x="${start}" y="${start}" width="${box}" height="${box}" ` +
        `rx="${box / 8}" fill="#ffffff"/>` +
        `<svg x="${start + box * 0.1}" y="${start + box * 0.1}" width="${mark}" ` +
        `height="${mark}" viewBox="${MARK_VIEWBOX}">` +
        `<path d="${MARK_PATH}" fill="${MARK_COLOR}"/></svg></svg>`;
    // Numbers and the constants above only: ASCII, as btoa needs.
    return "data:image/svg+xml;base64," + window.btoa(svg);
}
