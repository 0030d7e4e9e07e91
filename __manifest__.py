{
    "name": "POS Centrapay",
    "version": "18.0.1.1.0",
    "category": "Sales/Point of Sale",
    "sequence": 6,
    "summary": "Take Centrapay payments in the Point of Sale with the QR Code Flow",
    "author": "pos_centrapay contributors",
    "website": "https://github.com/pos-centrapay/pos_centrapay",
    "license": "LGPL-3",
    "depends": ["point_of_sale"],
    "external_dependencies": {"python": ["PyJWT"]},
    "data": [
        "security/ir.model.access.csv",
        "security/centrapay_security.xml",
        "security/centrapay_settlement_security.xml",
        "data/ir_sequence.xml",
        "data/product_product.xml",
        "data/ir_cron.xml",
        "views/pos_payment_method_views.xml",
        "wizard/centrapay_refund_wizard_views.xml",
        "views/centrapay_payment_request_views.xml",
        "views/centrapay_payment_activity_views.xml",
        "views/centrapay_settlement_views.xml",
        "views/centrapay_reconciliation_views.xml",
        "wizard/centrapay_reconciliation_wizard_views.xml",
    ],
    "demo": [
        "demo/pos_centrapay_demo.xml",
    ],
    "assets": {
        "point_of_sale._assets_pos": [
            "pos_centrapay/static/src/**/*",
            ("remove", "pos_centrapay/static/src/customer_display/**/*"),
            ("remove", "pos_centrapay/static/src/backend/**/*"),
        ],
        "web.assets_backend": [
            "pos_centrapay/static/src/backend/**/*",
        ],
        "point_of_sale.customer_display_assets": [
            "pos_centrapay/static/src/common/**/*",
            "pos_centrapay/static/src/customer_display/**/*",
        ],
        "point_of_sale.customer_display_assets_test": [
            # The tours draw the QR code as the POS does, and read it back.
            "web/static/lib/zxing-library/zxing-library.js",
            "pos_centrapay/static/src/app/utils/centrapay_qr.js",
            "pos_centrapay/static/tests/tours/utils/centrapay_qr_reader.js",
            "pos_centrapay/static/tests/tours/utils/centrapay_clocks.js",
            "pos_centrapay/static/tests/customer_display/**/*",
        ],
        "web.assets_tests": [
            "pos_centrapay/static/tests/tours/**/*",
        ],
    },
    "installable": True,
    "application": False,
}
