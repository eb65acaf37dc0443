# approval-hub image. The hub runs its TypeScript directly with Node 24's type stripping: no build step.
# (Node refuses to strip types under node_modules; the app lives in /app/src, so that never applies.)

# ---- dependencies: production only, from the lockfile
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# ---- runtime
FROM node:24-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node bin ./bin
COPY --chown=node:node src ./src
COPY --chown=node:node connectors ./connectors
COPY --chown=node:node mappings ./mappings
COPY --chown=node:node config ./config
# The embedded store and queue (config/hub.yaml: sqlite:../data/hub.db) live here; mount a volume to keep them.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node itself receives SIGTERM (docker stop) and shuts down gracefully.
CMD ["node", "src/server.ts"]
