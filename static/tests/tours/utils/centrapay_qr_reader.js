/**
 * Read a QR code picture back as a phone's camera would, with the ZXing library
 * the POS loads. Not ZXing's BrowserQRCodeReader: its canvas luminance source
 * inverts every other picture it is made from (for inverted codes on video), so
 * a single read of a still image fails half the time. The picture is the code as
 * drawn, not a photo: it is read as a pure barcode (its modules straight off the
 * grid). ZXing's finder-pattern detector, meant for photos, misses about one
 * drawn code in ten, with or without Centrapay's mark (300 URLs in Node).
 */

/** The text of the QR code in the picture at ``src`` (e.g. a data URI). */
export async function readQrCode(src) {
    const img = new Image();
    await new Promise((resolve, reject) => {
        img.onload = resolve;
        img.onerror = () => reject(new Error("the QR code picture does not load"));
        img.src = src;
    });
    const {naturalWidth: width, naturalHeight: height} = img;
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const context = canvas.getContext("2d");
    // Paper is white: what the picture leaves transparent too.
    context.fillStyle = "#ffffff";
    context.fillRect(0, 0, width, height);
    context.drawImage(img, 0, 0);
    const rgba = context.getImageData(0, 0, width, height).data;
    const grey = new Uint8ClampedArray(width * height);
    for (let i = 0; i < grey.length; i++) {
        grey[i] =
            (rgba[4 * i] * 299 + rgba[4 * i + 1] * 587 + rgba[4 * i + 2] * 114) / 1000;
    }
    const {
        BinaryBitmap,
        DecodeHintType,
        HybridBinarizer,
        QRCodeReader,
        RGBLuminanceSource,
    } = window.ZXing;
    const bitmap = new BinaryBitmap(
        new HybridBinarizer(new RGBLuminanceSource(grey, width, height))
    );
    const pure = new Map([[DecodeHintType.PURE_BARCODE, true]]);
    return new QRCodeReader().decode(bitmap, pure).getText();
}
