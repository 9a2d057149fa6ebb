-- Each account's consent to a version of a policy (src/consent.rs), given before verification.
-- The capture records the consent itself, in its QualificationVerified event; this table is what
-- the account gave before it had a capture. The first consent to a version is kept.
CREATE TABLE consents
(
    subject     text        NOT NULL,
    policy      text        NOT NULL,
    version     text        NOT NULL,
    sha256      text        NOT NULL,
    face_images boolean     NOT NULL,
    channel     text        NOT NULL,
    given_at    timestamptz NOT NULL,
    PRIMARY KEY (subject, policy, version)
);
