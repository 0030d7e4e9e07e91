from . import centrapay_payment_activity
from . import centrapay_payment_request
from . import centrapay_rate_limit
from . import centrapay_webhook_event
from . import pos_payment
from . import pos_payment_method
