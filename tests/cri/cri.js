// A minimal CRI client for tests and benchmarks (no kubelet, no crictl here).
//   node cri.js SOCKET METHOD [JSON]     one RuntimeService call; prints the reply as JSON
//   node cri.js SOCKET podup JSON        RunPodSandbox + CreateContainer + StartContainer
//                                        from {handler, name, image, command, logdir,
//                                        resources}; prints {pod, container, ms}
//   node cri.js SOCKET exec JSON         Exec (ExecRequest fields) and then the streaming
//                                        session at the returned URL, as crictl/kubectl
//                                        exec do it; JSON may add resize {Width, Height}
//                                        and input (text sent on stdin after the resize);
//                                        prints {stdout, stderr, status}; with hangup_on
//                                        (text) the client drops the connection once
//                                        stdout has it and prints {stdout, hangup}
//   node cri.js SOCKET portforward JSON  PortForward {pod_sandbox_id, port, input} and the
//                                        streaming session as kubectl port-forward does
//                                        it (WebSocket, v4.channel.k8s.io, one port):
//                                        sends input, prints {data, error} once the
//                                        connection ends
//   node cri.js SOCKET serve PATH        the same calls for as long as it runs, over HTTP
//                                        on the unix socket PATH: POST /METHOD with the
//                                        JSON as body answers 200 and the reply, or 500
//                                        and the error. A test keeps one: a node start
//                                        with grpc-js and this proto costs 7-10 s in the
//                                        lab's emulated L1, and a CRI test makes dozens
//                                        of calls
// Errors go to stderr as "METHOD: <grpc status name>: <details>", exit status 1.
'use strict';
const http = require('http');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');
const WebSocket = require('ws');

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

// Pod and container configs the way kubelet would build them for a simple pod on the
// pod network (the caller's containerd has a CNI config). namespace_options and
// security_context (PodSandboxConfig's linux one) add to the defaults, e.g.
// {network: 'NODE'} for a host-network pod.
function namespaces(o) {
	return { network: 'POD', pid: 'CONTAINER', ipc: 'POD', ...(o.namespace_options || {}) };
}

function podConfig(o) {
	const res = o.resources || {};
	return {
		metadata: { name: o.name, uid: 'uid-' + o.name, namespace: 'default', attempt: 0 },
		log_directory: o.logdir,
		labels: { app: o.name },
		linux: {
			cgroup_parent: '',
			security_context: { ...(o.security_context || {}), namespace_options: namespaces(o) },
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
			mounts: o.mounts || [],
			log_path: (o.container || 'main') + '.log',
			linux: {
				resources: o.container_resources || {},
				// The pod's namespaces, as kubelet gives every container of the pod.
				security_context: { ...(o.security_context || {}),
					namespace_options: sandbox.linux.security_context.namespace_options },
			},
		},
	};
}

// The Kubernetes remote command protocol over WebSocket, version 4: every binary
// message starts with its channel; the status channel carries a metav1.Status JSON
// when the command ends (exit code in details.causes), then the server closes. v4 has
// no way to close stdin alone: a command that reads stdin must end by itself.
const CH_STDIN = 0, CH_STDOUT = 1, CH_STDERR = 2, CH_STATUS = 3, CH_RESIZE = 4;

function stream(url, req) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
		const out = { [CH_STDOUT]: [], [CH_STDERR]: [], [CH_STATUS]: [] };
		const text = (ch) => Buffer.concat(out[ch]).toString();
		let ended = false;
		const end = (err, result) => {
			if (ended) return;
			ended = true;
			clearTimeout(timer);
			ws.terminate();
			if (err) reject(new Error('exec stream: ' + err));
			else resolve(result);
		};
		const timer = setTimeout(() => end('no end after 120 s; stdout so far: ' +
			JSON.stringify(text(CH_STDOUT))), 120 * 1000);
		const send = (ch, data) => ws.send(Buffer.concat([Buffer.from([ch]), Buffer.from(data)]));
		ws.on('open', () => {
			if (req.resize) send(CH_RESIZE, JSON.stringify(req.resize));
			if (req.input) send(CH_STDIN, req.input);
		});
		ws.on('message', (data) => {
			if (data.length > 1 && out[data[0]]) out[data[0]].push(data.subarray(1));
			// A user going away (kubectl killed): the connection drops under the command.
			if (req.hangup_on && text(CH_STDOUT).includes(req.hangup_on))
				end(null, { stdout: text(CH_STDOUT), hangup: true });
		});
		ws.on('error', (e) => end(e.message));
		ws.on('close', () => {
			const status = text(CH_STATUS);
			if (!status) return end('closed without a status; stdout: ' + JSON.stringify(text(CH_STDOUT)));
			end(null, { stdout: text(CH_STDOUT), stderr: text(CH_STDERR), status: JSON.parse(status) });
		});
	});
}

// Port forwarding over WebSocket: channel 0 carries the connection's data, channel 1
// errors; the first message on each is the port (2 bytes, little endian).
function portForward(url, port, input) {
	return new Promise((resolve, reject) => {
		const ws = new WebSocket(url.replace(/^http/, 'ws') + '?port=' + port, ['v4.channel.k8s.io']);
		const got = { 0: [], 1: [] };
		const seen = { 0: false, 1: false };
		const timer = setTimeout(() => { ws.terminate(); reject(new Error('portforward: no end after 120 s')); },
			120 * 1000);
		ws.on('open', () => ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(input || '')])));
		ws.on('message', (data) => {
			const ch = data[0];
			if (!(ch in got)) return;
			let body = data.subarray(1);
			if (!seen[ch]) { seen[ch] = true; body = body.subarray(2); }
			got[ch].push(body);
		});
		ws.on('error', (e) => { clearTimeout(timer); reject(new Error('portforward: ' + e.message)); });
		ws.on('close', () => {
			clearTimeout(timer);
			resolve({ data: Buffer.concat(got[0]).toString(), error: Buffer.concat(got[1]).toString() });
		});
	});
}

async function run(method, req) {
	if (method === 'podup') {
		const t0 = process.hrtime.bigint();
		const sandbox = podConfig(req);
		const pod = (await call('RunPodSandbox', { config: sandbox, runtime_handler: req.handler })).pod_sandbox_id;
		const ctr = (await call('CreateContainer', containerConfig({ ...req, pod }, sandbox))).container_id;
		await call('StartContainer', { container_id: ctr });
		return { pod, container: ctr, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
	} else if (method === 'exec') {
		const { resize, input, hangup_on, ...exec } = req;
		const { url } = await call('Exec', exec);
		return stream(url, { resize, input, hangup_on });
	} else if (method === 'portforward') {
		const { url } = await call('PortForward', { pod_sandbox_id: req.pod_sandbox_id, port: [req.port] });
		return portForward(url, req.port, req.input);
	} else if (method === 'RunPodSandbox' && req.pod) {
		return call(method, { config: podConfig(req.pod), runtime_handler: req.handler });
	} else if (method === 'CreateContainer' && req.pod_config) {
		return call(method, containerConfig(req, podConfig(req.pod_config)));
	}
	return call(method, req);
}

const parse = (json) => (json ? JSON.parse(json) : {});

function serve(where) {
	const server = http.createServer((rq, rs) => {
		const body = [];
		rq.on('data', (d) => body.push(d));
		rq.on('end', () => {
			const reply = (code, txt) => {
				rs.writeHead(code, { 'Content-Type': 'text/plain' });
				rs.end(txt + '\n');
			};
			Promise.resolve()
				.then(() => run(decodeURIComponent(rq.url.slice(1)), parse(Buffer.concat(body).toString())))
				.then((out) => reply(200, JSON.stringify(out, text)), (e) => reply(500, e.message));
		});
	});
	server.listen(where);
}

if (method === 'serve') {
	serve(arg);
} else {
	Promise.resolve()
		.then(() => run(method, parse(arg)))
		.then((out) => {
			console.log(JSON.stringify(out, text));
			process.exit(0);
		}, (e) => {
			console.error(e.message);
			process.exit(1);
		});
}
