from . import test_payment_flow
from . import test_smoke
