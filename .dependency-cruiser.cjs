/** Import rules of docs/architecture.md, enforced on dist/ after the build (npm run lint:deps, part of npm test). */
const stage = (name, allowed) => ({
  name: `${name}-imports`,
  comment: `dist/src/${name} (from src/${name}) may import only ${allowed.join(', ')} within src/`,
  severity: 'error',
  from: { path: `^dist/src/${name}/` },
  to: { path: '^dist/src/', pathNot: [`^dist/src/${name}/`, ...allowed.map((a) => `^dist/src/${a}/`)] },
});

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    stage('util', ['schema']),
    stage('schema', []),
    stage('source', ['schema', 'util']),
    stage('decode', ['schema', 'util']),
    stage('state', ['schema', 'util']),
    stage('sinks', ['schema', 'util']),
    stage('rules', ['schema', 'util']),
    stage('correlate', ['schema', 'util', 'state']),
    stage('query', ['schema', 'util']),
    // the agent link: transport only; the pipeline (pipeline/agent-lane, serve-session, agent-session) wires it to state and sinks
    stage('remote', ['schema', 'util']),
    {
      name: 'grpc-only-in-remote',
      comment: 'gRPC is the agent link and nothing else',
      severity: 'error',
      from: { path: '^dist/src/', pathNot: ['^dist/src/remote/', '\\.test\\.ts$'] },
      to: { path: 'node_modules/@grpc' },
    },
    {
      name: 'no-testing-in-production',
      severity: 'error',
      from: { path: '^dist/src/', pathNot: ['^dist/src/testing/', '\\.test\\.ts$'] },
      to: { path: '^dist/src/testing/' },
    },
    {
      name: 'rxjs-only-in-source-and-pipeline',
      severity: 'error',
      from: { path: '^dist/src/', pathNot: ['^dist/src/(source|pipeline)/', '\\.test\\.ts$'] },
      to: { path: 'node_modules/rxjs' },
    },
    { name: 'nothing-imports-cli', severity: 'error', from: { pathNot: '^dist/src/cli/' }, to: { path: '^dist/src/cli/' } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // checked on the compiled JS: TypeScript 7 (native) has no JS API for depcruise to parse .ts with
  },
};
