from . import centrapay_refund_wizard
