# One image for the API, the worker and migrations: `docker run conveyor api|worker|migrate`.

# --- build: all dependencies, compile TypeScript ------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/core/package.json packages/core/
COPY packages/dev/package.json packages/dev/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY packages/sdk packages/sdk
COPY packages/core packages/core
COPY apps/api apps/api
COPY apps/worker apps/worker
COPY packages/dev packages/dev
RUN npx tsc -b apps/api apps/worker

# --- prod-deps: runtime dependencies only (no TypeScript, vitest, embedded Postgres) ------
FROM node:20-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/core/package.json packages/core/
COPY packages/dev/package.json packages/dev/
COPY packages/client/package.json packages/client/
COPY packages/cli/package.json packages/cli/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
# Optional peers (valibot → typescript, 100+ MB) would otherwise come along: every real peer is a
# direct dependency, and the optional native msgpackr addon has a JS fallback.
RUN npm ci --omit=dev --omit=peer --omit=optional --ignore-scripts --no-audit --no-fund

# --- runtime ---------------------------------------------------------------------------------
FROM node:20-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node and reaps zombies; node then drains (see README).
RUN apt-get update && apt-get install -y --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=prod-deps /app/node_modules node_modules
COPY package.json ./
COPY packages/sdk/package.json packages/sdk/
COPY packages/core/package.json packages/core/
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY --from=build /app/packages/sdk/dist packages/sdk/dist
COPY --from=build /app/packages/core/dist packages/core/dist
COPY --from=build /app/apps/api/dist apps/api/dist
# The dashboard's and the API reference's pages, scripts and styles (served as they are).
COPY apps/api/public apps/api/public
COPY --from=build /app/apps/worker/dist apps/worker/dist
COPY drizzle drizzle
COPY docker/entrypoint.sh /usr/local/bin/conveyor
# The node image's unprivileged user.
USER node
EXPOSE 3000 3001
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/conveyor"]
CMD ["api"]
