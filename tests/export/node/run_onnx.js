// Runs an ONNX graph in ONNX Runtime (onnxruntime-node, CPU) for tests/export/onnx_export_test.py:
//   node run_onnx.js MODEL.onnx INPUTS.json   INPUTS {"name": {"dims": [N, W], "data": [...]}}
// prints {"output name": {"dims": [...], "data": [...]}} for every output of the graph.
// Exit 1 with the error on stderr when the model does not load or run.
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [model, inputsPath] = process.argv.slice(2);
  const given = JSON.parse(fs.readFileSync(inputsPath, 'utf8'));
  const session = await ort.InferenceSession.create(model, {intraOpNumThreads: 1});
  const feeds = {};
  for (const [name, t] of Object.entries(given))
    feeds[name] = new ort.Tensor('float32', Float32Array.from(t.data), t.dims);
  const results = await session.run(feeds);
  const out = {};
  for (const name of session.outputNames)
    out[name] = {dims: results[name].dims, data: Array.from(results[name].data)};
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(`run_onnx: ${e.message || e}\n`);
  process.exit(1);
});
