-- See the PostgreSQL migration.
CREATE TABLE consents
(
    subject     text    NOT NULL,
    policy      text    NOT NULL,
    version     text    NOT NULL,
    sha256      text    NOT NULL,
    face_images integer NOT NULL,
    channel     text    NOT NULL,
    given_at    text    NOT NULL,
    PRIMARY KEY (subject, policy, version)
) STRICT;
