-- A neutralized copy must never talk to the merchant's Centrapay account.
UPDATE pos_payment_method
   SET centrapay_api_key = NULL,
       centrapay_environment = 'sandbox',
       centrapay_base_url = 'http://127.0.0.1:8900',
       centrapay_webhook_enabled = false
 WHERE use_payment_terminal = 'centrapay';

-- External references carry the database uuid (doc: "externalRef"), and a
-- restored copy keeps the original's: give the copy its own, so it never issues
-- (or, recovering a lost create, adopts) a reference of the original.
UPDATE ir_config_parameter
   SET value = gen_random_uuid()::text
 WHERE key = 'database.uuid';
