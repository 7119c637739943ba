# energy2mqtt add-on image. The Supervisor no longer injects BUILD_FROM, so the base is pinned here.
ARG BUILD_FROM=ghcr.io/home-assistant/base:3.23

# --- build: compile TypeScript with the dev dependencies ---
FROM ${BUILD_FROM} AS build
RUN apk add --no-cache nodejs npm
WORKDIR /build
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts
COPY src ./src
RUN npm run build

# --- runtime: Node from Alpine, production dependencies, compiled JavaScript ---
FROM ${BUILD_FROM}
ARG BUILD_VERSION=0.1.0
ARG BUILD_ARCH=amd64
RUN apk add --no-cache nodejs \
    && node --version
WORKDIR /app
COPY package.json package-lock.json ./
RUN apk add --no-cache --virtual .build-deps npm \
    && npm ci --omit=dev --ignore-scripts \
    && npm cache clean --force \
    && apk del .build-deps
COPY --from=build /build/dist ./dist
COPY addon/rootfs /

LABEL \
    io.hass.name="energy2mqtt" \
    io.hass.description="Home-energy devices to MQTT with Home Assistant discovery, and PV-surplus automation" \
    io.hass.version="${BUILD_VERSION}" \
    io.hass.type="app" \
    io.hass.arch="${BUILD_ARCH}" \
    org.opencontainers.image.title="energy2mqtt" \
    org.opencontainers.image.version="${BUILD_VERSION}" \
    org.opencontainers.image.source="https://github.com/energy2mqtt/energy2mqtt" \
    org.opencontainers.image.licenses="MIT"
