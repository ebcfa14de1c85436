// Runs webui/ujson.py inside MicroPython (WebAssembly) on Node.
// usage: node mpy_runner.mjs MICROPYTHON_MJS UJSON_PY INPUT_JSON   (prints one JSON line)
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const [mpyModule, ujsonPath, inputPath] = process.argv.slice(2);
const { loadMicroPython } = await import(pathToFileURL(mpyModule).href);
const lines = [];
const mp = await loadMicroPython({
  stdout: (l) => lines.push(l),
  stderr: (l) => process.stderr.write(l + "\n"),
});
mp.FS.writeFile("/tbx_ujson.py", fs.readFileSync(ujsonPath));
mp.FS.writeFile("/in.json", fs.readFileSync(inputPath));
mp.runPython(`
import sys
sys.path.insert(0, "/")
import tbx_ujson as j
with open("/in.json") as f:
    doc = j.loads(f.read())
dumped = [j.dumps(j.loads(t)) for t in doc["good"]]
rejected = 0
for t in doc["bad"]:
    try:
        j.loads(t)
    except ValueError:
        rejected += 1
print(j.dumps({"impl": sys.implementation.name, "dumped": dumped, "bad_rejected": rejected}))
`);
process.stdout.write(lines.join("\n") + "\n");
