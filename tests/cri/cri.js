// A minimal CRI client for tests and benchmarks (no kubelet, no crictl here).
//   node cri.js SOCKET METHOD [JSON]     one RuntimeService call; prints the reply as JSON
//   node cri.js SOCKET podup JSON        RunPodSandbox + CreateContainer + StartContainer
//                                        from {handler, name, image, command, logdir,
//                                        resources}; prints {pod, container, ms}
// Errors go to stderr as "METHOD: <grpc status name>: <details>", exit status 1.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const def = loader.loadSync(path.join(__dirname, 'cri.proto'), {
	keepCase: true, longs: String, enums: String, defaults: true, bytes: Buffer,
});
const runtime = grpc.loadPackageDefinition(def).runtime.v1;

const [socket, method, arg] = process.argv.slice(2);
if (!socket || !method) {
	console.error('usage: cri.js SOCKET METHOD [JSON]');
	process.exit(2);
}
const client = new runtime.RuntimeService('unix://' + socket, grpc.credentials.createInsecure(),
	{ 'grpc.max_receive_message_length': 32 << 20 });

function call(name, req) {
	return new Promise((resolve, reject) => {
		const deadline = new Date(Date.now() + 240 * 1000);
		client[name](req, { deadline }, (err, reply) => {
			if (err) {
				const code = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code);
				reject(new Error(`${name}: ${code}: ${err.details}`));
			} else {
				resolve(reply);
			}
		});
	});
}

// ExecSync output is bytes: print it as text.
const text = (k, v) => (v && v.type === 'Buffer' && Array.isArray(v.data) ? Buffer.from(v.data).toString() : v);

// Pod and container configs the way kubelet would build them for a simple pod
// (host network: CNI is not needed; the pod is still its own VM). Like kubelet, no
// hostname for a host-network pod (runc refuses one without a uts namespace).
function podConfig(o) {
	const res = o.resources || {};
	return {
		metadata: { name: o.name, uid: 'uid-' + o.name, namespace: 'default', attempt: 0 },
		log_directory: o.logdir,
		labels: { app: o.name },
		linux: {
			cgroup_parent: '',
			security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
			resources: res,
		},
	};
}

function containerConfig(o, sandbox) {
	return {
		pod_sandbox_id: o.pod,
		sandbox_config: sandbox,
		config: {
			metadata: { name: o.container || 'main', attempt: 0 },
			image: { image: o.image },
			command: o.command,
			args: o.args || [],
			envs: (o.envs || []).map(([key, value]) => ({ key, value })),
			log_path: (o.container || 'main') + '.log',
			linux: {
				resources: o.container_resources || {},
				security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } },
			},
		},
	};
}

async function main() {
	const req = arg ? JSON.parse(arg) : {};
	let out;
	if (method === 'podup') {
		const t0 = process.hrtime.bigint();
		const sandbox = podConfig(req);
		const pod = (await call('RunPodSandbox', { config: sandbox, runtime_handler: req.handler })).pod_sandbox_id;
		const ctr = (await call('CreateContainer', containerConfig({ ...req, pod }, sandbox))).container_id;
		await call('StartContainer', { container_id: ctr });
		out = { pod, container: ctr, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
	} else if (method === 'RunPodSandbox' && req.pod) {
		out = await call(method, { config: podConfig(req.pod), runtime_handler: req.handler });
	} else if (method === 'CreateContainer' && req.pod_config) {
		out = await call(method, containerConfig(req, podConfig(req.pod_config)));
	} else {
		out = await call(method, req);
	}
	console.log(JSON.stringify(out, text));
}

main().then(() => process.exit(0), (e) => {
	console.error(e.message);
	process.exit(1);
});
