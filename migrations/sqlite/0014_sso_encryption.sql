-- Encrypted assertions (issue 13, SQLite): how an app's assertions are encrypted ('off',
-- 'aes256-gcm' or 'legacy'; see saml::encrypt) and the PEM certificate of the SP's
-- encryption key they are encrypted to.
ALTER TABLE app_sso ADD COLUMN encryption TEXT NOT NULL DEFAULT 'off';
ALTER TABLE app_sso ADD COLUMN sp_encryption_cert TEXT NOT NULL DEFAULT '';
