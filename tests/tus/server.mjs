// A real TUS server for vgen's tests, shaped like Supabase Storage (v1.11) behind a gateway that keeps
// /storage/v1: POST/PATCH/HEAD under /storage/v1/upload/resumable, bearer auth, objects named
// <bucketName>/<objectName> from the Upload-Metadata (stored as <bucket>__<name> in the folder), upload
// URLs carrying the id in base64url as Storage's do. Prints its port, stops on SIGTERM.
//
//   node server.mjs STORE_DIR [BUCKETS.json]
//
// BUCKETS.json (or TUS_TEST_BUCKETS) lists the buckets: {"videos": {"file_size_limit": 1000000 | null,
// "allowed_mime_types": ["video/*"] | null}}; without it every bucket exists, without limits.
// Like Storage: "Invalid key" (400) for names outside its key rule, 404 for a missing bucket, 409 for an
// existing object sent with x-upsert: false, 413 past the bucket's limit, 415 for a refused MIME type.
// The REST side: GET /bucket/ID, HEAD /object/BUCKET/NAME, POST /object/sign/BUCKET/NAME (answering the
// raw, decoded path as Storage does) and GET of the signed URL; errors are HTTP 400 with the real status
// in the JSON body, as Storage v1 answers them.
//
// Switches for tests, POST /__control with a JSON body (merged into `control`):
//   {"fail": [{"method": "PATCH", "count": 3, "status": 502, "when": "before" | "after"}]}
//       the next `count` such requests answer `status`: "before" the server sees them (a gateway's 502),
//       or "after" it handled them (the chunk is stored, the answer lost);
//   {"stripPrefix": true}  upload URLs without /storage/v1 (a self-hosted Storage behind a gateway without
//       REQUEST_ALLOW_X_FORWARDED_PATH), and the gateway has no route there (404);
//   {"globalLimit": BYTES} the server's own FILE_SIZE_LIMIT;
//   {"redirect": {"to": URL, "count": N}}  the next N storage requests answer 307 to URL.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const dir = process.argv[2];
const key = process.env.TUS_TEST_KEY || "service-role-key";
const bucketsFile = process.argv[3] || process.env.TUS_TEST_BUCKETS;
const buckets = bucketsFile ? JSON.parse(fs.readFileSync(bucketsFile, "utf8")) : null;
const PREFIX = "/storage/v1";
const TUS_PATH = `${PREFIX}/upload/resumable`;
const control = { fail: [], stripPrefix: false, globalLimit: 0, redirect: null };

// Storage's isValidKey (src/storage/limits.ts), JavaScript's ASCII \w.
const validKey = (k) => k.length > 0 && /^(\w|\/|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$/.test(k);
const idOf = (bucket, name) => `${bucket}/${name}`.replaceAll("/", "__");
const bucketInfo = (name) => {
  if (!buckets) return { file_size_limit: null, allowed_mime_types: null };
  const b = buckets[name];
  return b ? { file_size_limit: null, allowed_mime_types: null, ...b } : undefined;
};
const mimeAllowed = (mime, allowed) => {
  const [type, ext] = mime.split("/");
  return allowed.some((a) => {
    const [t, e] = a.split("/");
    return t === type && (e === "*" || e === ext);
  });
};
const done = new Set(); // ids of finished uploads: the objects that exist
const bucketOf = new Map(); // upload id -> bucket name
const signed = new Set(); // the paths signed so far (a real token carries its path)

const tus = new Server({
  path: TUS_PATH,
  datastore: new FileStore({ directory: dir }),
  namingFunction: (req, metadata) => {
    const bucket = metadata?.bucketName || "";
    const name = metadata?.objectName || "";
    if (!validKey(name)) throw { status_code: 400, body: `Invalid key: ${name}` };
    if (!bucketInfo(bucket)) throw { status_code: 404, body: "Bucket not found" };
    const id = idOf(bucket, name);
    bucketOf.set(id, bucket);
    return id;
  },
  generateUrl: (req, { proto, host, path: base, id }) =>
    `http://${host}${control.stripPrefix ? base.slice(PREFIX.length) : base}/${Buffer.from(id).toString("base64url")}`,
  getFileIdFromRequest: (req, lastPath) => Buffer.from(lastPath, "base64url").toString(),
  maxSize: (req, id) => {
    const limits = [bucketInfo(bucketOf.get(id) ?? "")?.file_size_limit, control.globalLimit].filter((n) => n > 0);
    return limits.length ? Math.min(...limits) : 0;
  },
  onIncomingRequest: async (req, id) => {
    if (req.headers.get("authorization") !== `Bearer ${key}`) {
      throw { status_code: 403, body: "bad credentials\n" };
    }
    if (req.method === "POST" && req.headers.get("x-upsert") !== "true" && done.has(id)) {
      throw { status_code: 409, body: "The resource already exists" };
    }
  },
  onUploadCreate: async (req, upload) => {
    const type = upload.metadata?.contentType;
    const allowed = bucketInfo(bucketOf.get(upload.id) ?? "")?.allowed_mime_types;
    if (type && allowed && !mimeAllowed(type, allowed)) {
      throw { status_code: 415, body: `mime type ${type} is not supported` };
    }
    done.delete(upload.id);
    return {};
  },
  onUploadFinish: async (req, upload) => {
    done.add(upload.id);
    return {};
  },
});

const send = (res, status, body, headers = {}) => {
  const data = body === undefined ? "" : JSON.stringify(body);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data), ...headers });
  res.end(data);
};
// Storage v1 answers its REST errors with HTTP 400 and the real status in the body.
const storageError = (res, status, error, message) => send(res, 400, { statusCode: String(status), error, message });
const authorized = (req) => req.headers.authorization === `Bearer ${key}`;
const readBody = (req) =>
  new Promise((resolve) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
  });
// "bucket/the/name" of a REST path: the bucket and the name as Storage's router decodes them.
const split = (raw) => {
  const decoded = decodeURIComponent(raw);
  const cut = decoded.indexOf("/");
  return cut < 0 ? [decoded, ""] : [decoded.slice(0, cut), decoded.slice(cut + 1)];
};

async function rest(req, res) {
  const [route, query = ""] = req.url.split("?");
  if (!authorized(req) && !(req.method === "GET" && route.startsWith(`${PREFIX}/object/sign/`))) {
    return storageError(res, 403, "Unauthorized", "invalid signature");
  }
  if (req.method === "GET" && route.startsWith(`${PREFIX}/bucket/`)) {
    const id = decodeURIComponent(route.slice(`${PREFIX}/bucket/`.length));
    const b = bucketInfo(id);
    if (!b) return storageError(res, 404, "Bucket not found", "Bucket not found");
    return send(res, 200, { id, name: id, public: false, ...b });
  }
  if (req.method === "HEAD" && route.startsWith(`${PREFIX}/object/`)) {
    const [bucket, name] = split(route.slice(`${PREFIX}/object/`.length));
    res.writeHead(bucketInfo(bucket) && done.has(idOf(bucket, name)) ? 200 : 400);
    return res.end();
  }
  if (req.method === "POST" && route.startsWith(`${PREFIX}/object/sign/`)) {
    await readBody(req);
    const raw = route.slice(`${PREFIX}/object/sign/`.length);
    const [bucket, name] = split(raw);
    if (!done.has(idOf(bucket, name))) return storageError(res, 404, "not_found", "Object not found");
    const urlToSign = decodeURI(raw); // as Storage's signObjectUrl: the path comes back raw
    signed.add(urlToSign);
    return send(res, 200, { signedURL: `/object/sign/${urlToSign}?token=test-token` });
  }
  if (req.method === "GET" && route.startsWith(`${PREFIX}/object/sign/`)) {
    const [bucket, name] = split(route.slice(`${PREFIX}/object/sign/`.length));
    if (query !== "token=test-token" || !signed.has(`${bucket}/${name}`)) {
      return storageError(res, 400, "InvalidSignature", "The signature for this URL does not match its path");
    }
    const file = path.join(dir, idOf(bucket, name));
    res.writeHead(200, { "Content-Type": "video/mp4", "Content-Length": fs.statSync(file).size });
    return fs.createReadStream(file).pipe(res);
  }
  return storageError(res, 404, "not_found", "no such route");
}

const server = http.createServer(async (req, res) => {
  if (req.method === "POST" && req.url === "/__control") {
    Object.assign(control, JSON.parse((await readBody(req)) || "{}"));
    res.writeHead(204);
    return res.end();
  }
  if (!req.url.startsWith(`${PREFIX}/`)) {
    // the gateway in front: nothing outside /storage/v1 (Kong's answer)
    return send(res, 404, { message: "no Route matched with those values" });
  }
  if (control.redirect && control.redirect.count > 0) {
    control.redirect.count--;
    req.resume();
    res.writeHead(307, { Location: control.redirect.to, "Content-Length": 0 });
    return res.end();
  }
  if (req.url.startsWith(TUS_PATH)) {
    const failing = control.fail.find((f) => f.count > 0 && f.method === req.method);
    if (failing) {
      failing.count--;
      const status = failing.status || 502;
      if (failing.when === "after") {
        const writeHead = res.writeHead.bind(res);
        res.writeHead = () => writeHead(status, http.STATUS_CODES[status], { "Content-Length": 0 });
        const end = res.end.bind(res);
        res.write = () => true;
        res.end = () => end();
      } else {
        req.resume();
        return req.on("end", () => {
          res.writeHead(status, { "Content-Length": 0 });
          res.end();
        });
      }
    }
    return tus.handle(req, res);
  }
  return rest(req, res);
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
