-- A neutralized copy must never talk to the merchant's Centrapay account.
UPDATE pos_payment_method
   SET centrapay_api_key = NULL,
       centrapay_environment = 'sandbox',
       centrapay_base_url = 'http://127.0.0.1:8900',
       centrapay_webhook_enabled = false
 WHERE use_payment_terminal = 'centrapay';
