import { render } from "preact";
import { loadConfig } from "./config";
import { App } from "./ui/App";
import "./style.css";

const root = document.getElementById("app");
if (root) {
  loadConfig()
    .then((config) => render(<App config={config} />, root))
    .catch((error: unknown) => {
      root.textContent = error instanceof Error ? error.message : "the app could not start";
    });
}
