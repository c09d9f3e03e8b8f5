// kube-sim driven by the official JavaScript client (@kubernetes/client-node), as
// KubeSimSurfaceTest.OfficialJavaScriptClient runs it:
//   node client_node_test.mjs <kubeconfig> <npm prefix holding node_modules/@kubernetes/client-node>
// Prints one line per step ("<step> <result>"); the C++ test compares the whole output.
import { pathToFileURL } from 'node:url';

const [kubeconfig, prefix] = process.argv.slice(2);
const k8s = await import(
  pathToFileURL(`${prefix}/node_modules/@kubernetes/client-node/dist/index.js`).href);

const kc = new k8s.KubeConfig();
kc.loadFromFile(kubeconfig);
kc.setCurrentContext('admin');
const core = kc.makeApiClient(k8s.CoreV1Api);
const apps = kc.makeApiClient(k8s.AppsV1Api);
const ns = 'aura';
const header = (type) => k8s.setHeaderOptions('Content-Type', type);
const out = (...parts) => console.log(parts.join(' '));

async function step(name, f) {
  try {
    out(name, await f());
  } catch (e) {
    out(name, 'failed', e.code ?? '', String(e.body ?? e.message ?? e).slice(0, 300));
  }
}

await step('list namespaces', async () =>
  (await core.listNamespace()).items.map((n) => n.metadata.name).filter((n) => n === ns).join());
await step('create', async () =>
  JSON.stringify((await core.createNamespacedConfigMap({
    namespace: ns, body: { metadata: { name: 'js' }, data: { a: '1' } } })).data));
await step('merge patch', async () =>
  JSON.stringify((await core.patchNamespacedConfigMap(
    { name: 'js', namespace: ns, body: { data: { b: '2' } } },
    header(k8s.PatchStrategy.MergePatch))).data));
await step('json patch', async () =>
  JSON.stringify((await core.patchNamespacedConfigMap({
    name: 'js', namespace: ns, body: [{ op: 'remove', path: '/data/a' }] })).data));
await step('apply', async () => {
  const cm = await core.patchNamespacedConfigMap({
    name: 'js', namespace: ns, fieldManager: 'js', force: true,
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'js', namespace: ns },
            data: { c: '3' } } }, header(k8s.PatchStrategy.ServerSideApply));
  return JSON.stringify(cm.data) + ' ' + cm.metadata.managedFields.map((m) => m.manager).join();
});
await step('replace', async () => {
  const cm = await core.readNamespacedConfigMap({ name: 'js', namespace: ns });
  cm.data = { d: '4' };
  return JSON.stringify((await core.replaceNamespacedConfigMap({ name: 'js', namespace: ns, body: cm })).data);
});
await step('not found', async () => core.readNamespacedConfigMap({ name: 'nope', namespace: ns }));

await step('create deployment', async () => (await apps.createNamespacedDeployment({
  namespace: ns,
  body: { metadata: { name: 'js' },
          spec: { selector: { matchLabels: { app: 'js' } },
                  template: { metadata: { labels: { app: 'js' } },
                              spec: { containers: [{ name: 'web', image: 'nginx:1' },
                                                   { name: 'sidecar', image: 'envoy:1' }] } } } } }))
  .spec.template.spec.containers.map((c) => c.name).join());
await step('strategic merge patch', async () => (await apps.patchNamespacedDeployment({
  name: 'js', namespace: ns,
  body: { spec: { template: { spec: { containers: [{ name: 'web', image: 'nginx:2' }] } } } } },
  header(k8s.PatchStrategy.StrategicMergePatch)))
  .spec.template.spec.containers.map((c) => `${c.name}=${c.image}`).join());
await step('scale', async () => (await apps.replaceNamespacedDeploymentScale({
  name: 'js', namespace: ns,
  body: { metadata: { name: 'js', namespace: ns }, spec: { replicas: 2 } } })).spec.replicas);

await step('pages', async () => {
  const first = await core.listNamespacedConfigMap({ namespace: ns, limit: 1 });
  const second = await core.listNamespacedConfigMap({ namespace: ns, limit: 1, _continue: first.metadata._continue });
  return `${first.items.length}+${second.items.length} ${first.metadata._continue ? 'continue' : 'end'}`;
});

await step('watch', async () => {
  const seen = [];
  let request;
  await new Promise((resolve, reject) => {
    new k8s.Watch(kc).watch(`/api/v1/namespaces/${ns}/configmaps`, { labelSelector: 'js=watch' },
      (type, obj) => {
        seen.push(`${type}:${obj.metadata.name}`);
        if (type === 'DELETED') resolve();
      },
      (err) => { if (err) reject(err); })
      .then(async (r) => {
        request = r;
        const body = { metadata: { name: 'js-watch', labels: { js: 'watch' } } };
        await core.createNamespacedConfigMap({ namespace: ns, body });
        await core.patchNamespacedConfigMap({ name: 'js-watch', namespace: ns, body: { data: { x: 'y' } } },
          header(k8s.PatchStrategy.MergePatch));
        await core.deleteNamespacedConfigMap({ name: 'js-watch', namespace: ns });
      }, reject);
  });
  request.abort();
  return seen.join(' ');
});

await step('informer', async () => {
  const path = `/api/v1/namespaces/${ns}/configmaps`;
  const informer = k8s.makeInformer(kc, path,
    () => core.listNamespacedConfigMap({ namespace: ns, labelSelector: 'js=informer' }), 'js=informer');
  const added = [];
  await new Promise((resolve, reject) => {
    informer.on('add', (o) => { added.push(o.metadata.name); if (o.metadata.name === 'js-informer') resolve(); });
    informer.on('error', reject);
    informer.start().then(() => core.createNamespacedConfigMap({
      namespace: ns, body: { metadata: { name: 'js-informer', labels: { js: 'informer' } } } }), reject);
  });
  await informer.stop();
  return added.join();
});

await step('delete foreground', async () =>
  (await apps.deleteNamespacedDeployment({ name: 'js', namespace: ns, propagationPolicy: 'Foreground' })).kind);
process.exit(0);
