// SPDX-License-Identifier: MIT
// Decode speed of a recent llama.cpp for side-by-side benchmarks: node-llama-cpp's prebuilt
// CPU library (fetched by npm into a scratch folder at benchmark time, never committed),
// weights read through mmap, no GPU. Documentation/benchmarks.md says how it is used.
//   npm install --prefix DIR node-llama-cpp@3.22.1
//   NODE_PATH=DIR/node_modules node node_bench.mjs MODEL.gguf [TOKENS] [THREADS]
// prints one JSON line: tokens_per_s over TOKENS greedy tokens after the first (the
// prompt is the one token "Once"), load_s (model load and context creation).
import {createRequire} from "node:module";
import path from "node:path";

const req = createRequire(path.join(process.env.NODE_PATH || ".", "x.js"));
const {getLlama} = await import(req.resolve("node-llama-cpp"));
const [modelPath, nArg, tArg] = process.argv.slice(2);
const n = parseInt(nArg || "8", 10), threads = parseInt(tArg || "2", 10);

if (!modelPath || !(n > 0) || !(threads > 0)) {
	console.error("usage: node node_bench.mjs MODEL.gguf [TOKENS] [THREADS]");
	process.exit(2);
}
const llama = await getLlama({gpu: false, build: "never", logLevel: "error"});
const t0 = performance.now();
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const ctx = await model.createContext({contextSize: n + 64, threads, batchSize: 16});
const seq = ctx.getSequence();
const loadS = (performance.now() - t0) / 1000;
let got = 0, ts = 0;

for await (const tok of seq.evaluate(model.tokenize("Once"), {temperature: 0})) {
	void tok;
	if (++got === 1)
		ts = performance.now(); // the prompt's token is out: decode from here
	if (got === n + 1)
		break;
}
const s = (performance.now() - ts) / 1000;
console.log(JSON.stringify({tokens_per_s: n / s, tokens: n, load_s: loadS}));
await ctx.dispose();
await model.dispose();
