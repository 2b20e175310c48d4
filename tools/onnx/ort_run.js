// ort_run.js - run an ONNX model in onnxruntime (npm's onnxruntime-node, its CPU
// runtime) on NumPy arrays, as `nabla run` does, so the two can be compared:
//
//   NODE_PATH=DIR/node_modules node tools/onnx/ort_run.js MODEL.onnx IN.npy [IN2.npy ...] --out DIR
//       [--threads N] [--time WARMUP,RUNS]
//
// Inputs are given in graph-input order (float32 '<f4' or int64 '<i8' .npy files);
// DIR/output_0.npy ... are written in graph-output order. --threads sets the session's
// intra-op threads (default 1); --time runs the model WARMUP times untimed and RUNS
// times timed, and prints `ort_us=<median microseconds per run>` and the mean.
// onnxruntime-node is installed with `npm install --ignore-scripts onnxruntime-node`
// (the native CPU library ships in the package; the install script would only fetch a
// GPU add-on).
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

const TYPES = {
    '<f4': ['float32', Float32Array, 4],
    '<i8': ['int64', BigInt64Array, 8],
    '<i4': ['int32', Int32Array, 4],
    '|u1': ['uint8', Uint8Array, 1],
    '|b1': ['bool', Uint8Array, 1],
    '<f8': ['float64', Float64Array, 8],
};

function readNpy(file) {
    const buf = fs.readFileSync(file);
    if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
    const major = buf[6];
    const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
    const hstart = major === 1 ? 10 : 12;
    const header = buf.toString('latin1', hstart, hstart + hlen);
    const descr = /'descr':\s*'([^']+)'/.exec(header);
    const fortran = /'fortran_order':\s*(True|False)/.exec(header);
    const shapeM = /'shape':\s*\(([^)]*)\)/.exec(header);
    if (!descr || !fortran || !shapeM) throw new Error(`${file}: unreadable .npy header`);
    if (fortran[1] === 'True') throw new Error(`${file}: Fortran-order arrays are not read`);
    const t = TYPES[descr[1]];
    if (!t) throw new Error(`${file}: dtype ${descr[1]} is not read`);
    const shape = shapeM[1].split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
    const n = shape.reduce((a, b) => a * b, 1);
    const off = hstart + hlen;
    if (buf.length < off + n * t[2]) throw new Error(`${file}: ${n} elements of ${descr[1]} do not fit`);
    const data = new t[1](n);
    const bytes = buf.subarray(off, off + n * t[2]);
    new Uint8Array(data.buffer).set(bytes);
    const type = t[0] === 'bool' ? 'bool' : t[0];
    return new ort.Tensor(type, t[0] === 'bool' ? Uint8Array.from(data, (v) => (v ? 1 : 0)) : data, shape);
}

function writeNpy(file, tensor) {
    const descr = { float32: '<f4', int64: '<i8', int32: '<i4', uint8: '|u1', bool: '|b1', float64: '<f8' }[tensor.type];
    if (!descr) throw new Error(`output type ${tensor.type} is not written`);
    const dims = tensor.dims.map(String);
    const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
    let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
    const pad = 64 - ((10 + header.length + 1) % 64);
    header += ' '.repeat(pad % 64) + '\n';
    const head = Buffer.alloc(10);
    head.write('\x93NUMPY', 0, 'latin1');
    head[6] = 1;
    head[7] = 0;
    head.writeUInt16LE(header.length, 8);
    const data = tensor.data;
    const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

async function main() {
    const args = process.argv.slice(2);
    const pos = [];
    let out = null, threads = 1, time = null;
    for (let i = 0; i < args.length; i++) {
        if (args[i] === '--out') out = args[++i];
        else if (args[i] === '--threads') threads = Number(args[++i]);
        else if (args[i] === '--time') time = args[++i].split(',').map(Number);
        else pos.push(args[i]);
    }
    if (pos.length < 1 || (!out && !time)) {
        console.error('usage: node ort_run.js MODEL.onnx IN.npy ... --out DIR [--threads N] [--time WARMUP,RUNS]');
        process.exit(2);
    }
    const session = await ort.InferenceSession.create(pos[0], {
        intraOpNumThreads: threads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
    });
    const feeds = {};
    if (pos.length - 1 !== session.inputNames.length)
        throw new Error(`${pos[0]} has ${session.inputNames.length} inputs (${session.inputNames.join(', ')}), ${pos.length - 1} .npy files given`);
    session.inputNames.forEach((name, i) => (feeds[name] = readNpy(pos[1 + i])));
    let result = await session.run(feeds);
    if (time) {
        for (let i = 0; i < time[0]; i++) await session.run(feeds);
        const us = [];
        for (let i = 0; i < time[1]; i++) {
            const t0 = process.hrtime.bigint();
            result = await session.run(feeds);
            us.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        us.sort((a, b) => a - b);
        const mean = us.reduce((a, b) => a + b, 0) / us.length;
        console.log(`ort_us=${us[Math.floor(us.length / 2)].toFixed(1)} ort_mean_us=${mean.toFixed(1)} threads=${threads} runs=${time[1]}`);
    }
    if (out) {
        fs.mkdirSync(out, { recursive: true });
        session.outputNames.forEach((name, k) => {
            const file = path.join(out, `output_${k}.npy`);
            writeNpy(file, result[name]);
            console.log(`${file}: ${name} ${result[name].type} ${result[name].dims.join('x')}`);
        });
    }
}

main().catch((e) => {
    console.error(`ort_run.js: ${e.message}`);
    process.exit(1);
});
