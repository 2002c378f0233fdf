-- An advisor's regulatory identity, printed on their branded images: the name as registered,
-- the registration (type and number, e.g. SEBI_RIA INA000012345, AMFI_ARN ARN-12345), the phone
-- clients should call (the WhatsApp number when null) and an optional logo. Null until imported:
-- the plan reports advisors whose identity is incomplete instead of sending them a blank strip.
ALTER TABLE advisors
    ADD COLUMN registered_name     text,
    ADD COLUMN registration_type   text,
    ADD COLUMN registration_number text,
    ADD COLUMN display_phone       text,
    ADD COLUMN logo_url            text;

-- Branded renders by (base image, identity, language, renderer version): an unchanged advisor
-- costs nothing the next morning. The bytes are on disk at `path`; `branded_sha256` is their hash,
-- the key the media cache and pack_media use like any pack image.
CREATE TABLE branded_images (
    cache_key      text PRIMARY KEY,
    branded_sha256 text NOT NULL,
    path           text NOT NULL,
    mime_type      text NOT NULL,
    rendered_at    timestamptz NOT NULL DEFAULT now()
);

-- Each pre-staging run's measured cost, so `dawn plan` can say how long this morning's will take
-- and when it must start, from this machine's and this account's real rates.
CREATE TABLE prestage_runs (
    id            bigserial PRIMARY KEY,
    finished_at   timestamptz NOT NULL,
    rendered      integer NOT NULL,
    render_cpu_s  double precision NOT NULL,
    render_wall_s double precision NOT NULL,
    uploaded      integer NOT NULL,
    upload_wall_s double precision NOT NULL,
    numbers       integer NOT NULL
);
