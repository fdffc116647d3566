# The cred-rotator worker: `docker build -t cred-rotator .`, run as in docker-compose.yml (docs/deployment.md).
# Node 24 is the current LTS; the project also runs from source on Node 20.19+ and 22.12+ (package.json "engines").

# Compiles the TypeScript and prebuilds the workflow bundle, so the worker starts without webpack.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY activities ./activities
COPY workflows ./workflows
RUN npm run build

# Production dependencies only: no compiler, test tools or simulators in the image.
FROM node:24-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
# MALLOC_ARENA_MAX: at most two glibc malloc arenas (docs/deployment.md, "Memory"; WORKER_PROCESS_ENVIRONMENT).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    ROTATOR_INVENTORY=/etc/rotator/rotator.yaml \
    ROTATOR_AUDIT_LOG=/var/lib/rotator/audit.jsonl \
    ROTATOR_HEALTH_PORT=8080 \
    METRICS_PORT=9464
WORKDIR /app
# The audit log's folder belongs to the unprivileged user; a named volume mounted there inherits that.
RUN mkdir -p /etc/rotator /var/lib/rotator && chown node:node /var/lib/rotator
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER node
EXPOSE 8080 9464
# Liveness only: readiness (/readyz) depends on Temporal and Vault, which an orchestrator should not restart us for.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.ROTATOR_HEALTH_PORT + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM drains: in-flight activities finish within ROTATOR_SHUTDOWN_GRACE, then the process exits 0.
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/worker.js"]
