# romm-server in a small image: build with the Rust toolchain, run on Debian slim.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock clippy.toml ./
COPY src src
COPY migrations migrations
RUN cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/romm --create-home romm
COPY --from=build /src/target/release/romm-server /usr/local/bin/romm-server
USER romm
WORKDIR /var/lib/romm
ENV ROMM_LISTEN=0.0.0.0:80
EXPOSE 80
ENTRYPOINT ["romm-server"]
CMD ["serve"]
