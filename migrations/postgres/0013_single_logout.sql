-- Single Logout (SAML Profiles §4.4): the SP's logout endpoint, and who took part in each
-- portal session.
ALTER TABLE app_sso ADD COLUMN slo_url TEXT NOT NULL DEFAULT '';
-- The SP's ResponseLocation, when its LogoutResponses go elsewhere than its requests.
ALTER TABLE app_sso ADD COLUMN slo_response_url TEXT NOT NULL DEFAULT '';
ALTER TABLE app_sso ADD COLUMN slo_binding TEXT NOT NULL DEFAULT 'redirect';

-- Each SP an assertion went to, per portal session (session_index, kept in the session),
-- with the NameID and the SessionIndex it was given: what a LogoutRequest to that SP must
-- name (Core §3.7.1). Each SP gets its own SessionIndex, derived from the portal session's,
-- so SPs cannot correlate a user through it (Core §2.7.2.1) nor name another SP's session.
CREATE TABLE saml_participants (
    session_index TEXT NOT NULL,
    app_id BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name_id TEXT NOT NULL,
    name_id_format TEXT NOT NULL,
    sp_session_index TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (session_index, app_id)
);
CREATE INDEX saml_participants_app_name ON saml_participants (app_id, name_id);
CREATE INDEX saml_participants_app_index ON saml_participants (app_id, sp_session_index);
