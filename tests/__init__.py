from . import test_payment_flow
from . import test_smoke
from . import test_tours
from . import test_webhook
