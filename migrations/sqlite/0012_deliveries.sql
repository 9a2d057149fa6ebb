-- 学信网 delivery packages. A package holds the approved captures that were not yet delivered
-- when it was made; a capture is in one package at most (the primary key of
-- delivery_package_captures), so two staff making packages at once split the captures rather
-- than deliver one twice. Every download is kept: who took names and ID numbers in clear, when,
-- and (through the package) which captures.
CREATE TABLE delivery_packages
(
    package_id      text    PRIMARY KEY,
    school_id       text    NOT NULL,
    -- The batch the package was made for; NULL when it covers the whole school.
    batch_id        text,
    created_by      text    NOT NULL,
    created_at      text    NOT NULL,
    -- The name the ZIP is downloaded under (it carries the manifest's SHA-256).
    file_name       text    NOT NULL,
    manifest_sha256 text    NOT NULL,
    captures        integer NOT NULL,
    -- When staff marked every capture in it 已完成 on 学信网.
    completed_at    text,
    completed_by    text
) STRICT;
CREATE INDEX delivery_packages_created ON delivery_packages (created_at DESC);

CREATE TABLE delivery_package_captures
(
    capture_id text    PRIMARY KEY,
    package_id text    NOT NULL REFERENCES delivery_packages (package_id),
    -- The capture's place in the package's manifest.
    position   integer NOT NULL
) STRICT;
CREATE INDEX delivery_package_captures_package ON delivery_package_captures (package_id, position);

CREATE TABLE delivery_downloads
(
    download_id   integer PRIMARY KEY AUTOINCREMENT,
    package_id    text    NOT NULL REFERENCES delivery_packages (package_id),
    downloaded_by text    NOT NULL,
    downloaded_at text    NOT NULL
) STRICT;
CREATE INDEX delivery_downloads_package ON delivery_downloads (package_id, downloaded_at);

-- Approved captures by school, for making packages.
CREATE INDEX capture_status_school_status ON capture_status (school_id, status);
