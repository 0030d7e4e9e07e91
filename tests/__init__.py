from . import test_concurrency
from . import test_configuration
from . import test_error_messages
from . import test_payment_flow
from . import test_smoke
from . import test_tours
from . import test_webhook
from . import test_security
