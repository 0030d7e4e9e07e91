from . import centrapay_reconciliation_wizard
from . import centrapay_refund_wizard
