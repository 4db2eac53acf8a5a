# syntax=docker/dockerfile:1
# One image for every role; the command picks it: start | app | worker | exporter | status.

# --- build: compile TypeScript (dev dependencies live only here) ---
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- deps: production dependencies only ---
FROM node:20-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---
FROM node:20-slim
# tini as PID 1 forwards SIGTERM to node, so workers finish their jobs before the pod goes.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 qscale \
 && useradd --system --uid 10001 --gid qscale --home-dir /app --shell /usr/sbin/nologin qscale \
 && mkdir -p /data/uploads \
 && chown qscale:qscale /data/uploads
WORKDIR /app
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    UPLOAD_DIR=/data/uploads
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 10001:10001
EXPOSE 8080 9464 6000
ENTRYPOINT ["/usr/bin/tini", "--", "node", "/app/dist/cli/main.js"]
CMD ["start"]
