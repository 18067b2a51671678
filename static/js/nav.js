// On narrow screens the site menu folds behind one "Menu" button.
const toggle = document.getElementById("nav-toggle");
if (toggle) {
  const bar = toggle.closest(".topbar");
  toggle.addEventListener("click", () => {
    const open = !bar.classList.contains("nav-open");
    bar.classList.toggle("nav-open", open);
    toggle.setAttribute("aria-expanded", String(open));
  });
}
