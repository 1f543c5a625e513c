// A real TUS server for vgen's tests, shaped like Supabase Storage's resumable endpoint:
// POST/PATCH/HEAD under /storage/v1/upload/resumable, bearer auth, objects named
// <bucketName>/<objectName> from the Upload-Metadata. Prints its port, stops on SIGTERM.
import http from "node:http";
import { Server } from "@tus/server";
import { FileStore } from "@tus/file-store";

const dir = process.argv[2];
const key = process.env.TUS_TEST_KEY || "service-role-key";
const tus = new Server({
  path: "/storage/v1/upload/resumable",
  datastore: new FileStore({ directory: dir }),
  namingFunction: (req, metadata) => `${metadata.bucketName}/${metadata.objectName}`.replaceAll("/", "__"),
  generateUrl: (req, { proto, host, path, id }) => `http://${host}${path}/${id}`,
  getFileIdFromRequest: (req, lastPath) => lastPath,
  onIncomingRequest: async (req) => {
    if (req.headers.get("authorization") !== `Bearer ${key}`) {
      throw { status_code: 403, body: "bad credentials\n" };
    }
  },
});
// Storage's object signing, enough for vgen's signed_url_seconds (the real one returns a JWT).
const sign = (req, res) => {
  if (req.headers.authorization !== `Bearer ${key}`) { res.writeHead(403); return res.end(); }
  const name = req.url.slice("/storage/v1/object/sign/".length);
  res.writeHead(200, { "Content-Type": "application/json" });
  res.end(JSON.stringify({ signedURL: `/object/sign/${name}?token=test-token` }));
};
const server = http.createServer((req, res) =>
  req.method === "POST" && req.url.startsWith("/storage/v1/object/sign/") ? sign(req, res) : tus.handle(req, res));
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
