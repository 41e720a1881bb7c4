"""The first-person view of the grid families: a batched raycaster giving DM Lab-like RGB frames.

The engine (`engine.py`) keeps its maps, objects, dynamics and rewards; this module only
draws what the agent sees from the centre of its cell, facing its heading, with a 90 degree
field of view, as a (3, S, S) uint8 image (channels first, like the window view):

- walls by DDA ray casting, one ray per image column for every environment at once (a
  loop over a fixed number of DDA steps, never over environments or rays), drawn as a
  vertical span of height S / (2 t) at perpendicular distance t (no fish-eye);
- each wall cell has a colour and a stripe pattern of its own (a colour per 3x3 block of
  the map and a stripe count per cell, fixed per task), so that places can be told apart,
  as DM Lab's textured walls and landmarks allow; faces hit on an x side are darker and
  every wall darkens with distance;
- floor and ceiling as fixed gradients;
- apples (green discs), goals (gold diamonds) and bots (red bars) as sprites standing on
  the floor at their cell's centre, drawn only in the columns where they are nearer than
  the wall (a depth buffer), nearer sprites over farther ones.

Geometry (units of cells): the agent stands at (y + 0.5, x + 0.5) of its cell with eye
height 0.5 in a map whose walls are 1 high. Image column j looks along
forward + right * c_j with c_j = (2 j + 1 - S) / S, so a point at depth d (along the
heading) and lateral offset l (to the right) is seen at column S / 2 (1 + l / d), and
height z at row S / 2 + S / 2 (0.5 - z) / d.
"""

from __future__ import annotations

import numpy as np

from distral_repro.envs.grid import APPLE, BOT, DIRECTIONS, GOAL

VIEWS = ("window", "first_person")
DEFAULT_IMAGE_SIZE = 32
MIN_IMAGE_SIZE = 16  # the smallest frame the pixel torso takes (networks.PIXEL_MIN_SIDE)
MAX_IMAGE_SIZE = 84  # DM Lab's frames in the paper

CEILING_TOP, CEILING_HORIZON = (70, 90, 140), (150, 165, 190)
FLOOR_HORIZON, FLOOR_NEAR = (95, 85, 70), (150, 130, 100)
WALL_PALETTE = np.array(
    [(200, 70, 60), (70, 140, 200), (220, 180, 70), (120, 190, 100), (170, 100, 190), (230, 130, 60),
     (90, 200, 190), (200, 200, 200)],
    dtype=np.float32,
)
CACHE_LIMIT_MIB = 256  # wall frames of every (task, free cell, heading) kept at most this large
X_SIDE_SHADE = 0.7  # faces hit on an x side (walls running north-south) are darker
FOG = 0.12  # brightness 1 / (1 + FOG * t) at distance t
STRIPE_SHADE = 0.75  # darker stripes on the walls

# Sprites: cell code -> (kind, world size, RGB). Kinds: 0 disc, 1 diamond, 2 bar.
SPRITES = {
    APPLE: (0, 0.35, (60, 200, 60)),
    GOAL: (1, 0.6, (250, 200, 40)),
    BOT: (2, 0.8, (220, 40, 40)),
}


def check_view(view, image_size) -> None:
    """ValueError with one line unless `view` is in VIEWS and `image_size` in range."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; valid: {', '.join(VIEWS)}")
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or not (
        MIN_IMAGE_SIZE <= image_size <= MAX_IMAGE_SIZE
    ):
        raise ValueError(
            f"image_size must be an integer in {MIN_IMAGE_SIZE}..{MAX_IMAGE_SIZE} (the pixel torso's smallest "
            f"frame .. DM Lab's 84), got {image_size!r}"
        )


def camera_offsets(size: int) -> np.ndarray:
    """c_j = (2 j + 1 - S) / S of each image column: (S,) float64, exactly antisymmetric (c_{S-1-j} = -c_j)."""
    return (2.0 * np.arange(size) + 1.0 - size) / size


def ray_tables(size: int) -> dict[str, np.ndarray]:
    """Per heading and column: ray direction, DDA step and the t between grid lines, (4, S) each."""
    cam = camera_offsets(size)
    forward = DIRECTIONS.astype(np.float64)  # (4, 2) dy, dx
    right = DIRECTIONS[[1, 2, 3, 0]].astype(np.float64)
    dy = forward[:, 0, None] + right[:, 0, None] * cam[None, :]
    dx = forward[:, 1, None] + right[:, 1, None] * cam[None, :]
    with np.errstate(divide="ignore"):
        delta_y = np.where(dy == 0, np.inf, np.abs(1.0 / np.where(dy == 0, 1.0, dy)))
        delta_x = np.where(dx == 0, np.inf, np.abs(1.0 / np.where(dx == 0, 1.0, dx)))
    return {
        "dy": dy, "dx": dx, "delta_y": delta_y, "delta_x": delta_x,
        "step_y": np.sign(dy).astype(np.int64), "step_x": np.sign(dx).astype(np.int64),
    }


def cast_rays(wall_flat: np.ndarray, width: int, map_base: np.ndarray, position: np.ndarray, heading: np.ndarray,
              rays: dict[str, np.ndarray], max_steps: int) -> tuple[np.ndarray, ...]:
    """DDA from each environment's cell centre, one ray per image column, all at once.

    Args:
        wall_flat: every map's cells, concatenated, True = wall.
        width: side of a (padded) map; cells are y * width + x.
        map_base: (N,) offset of each environment's map in `wall_flat`.
        position, heading: (N,) the agent's cell and heading (0 N, 1 E, 2 S, 3 W).
        rays: `ray_tables(S)`.
        max_steps: DDA steps at most (enough to cross the map; a wall ring surrounds it).
    Returns:
        t (N, S) perpendicular distance to the wall face hit, cell (N, S) the wall cell,
        x_side (N, S) True where a face of constant x was hit, u (N, S) where along the
        face (0..1).
    """
    dy, dx = rays["dy"][heading], rays["dx"][heading]  # (N, S)
    delta_y, delta_x = rays["delta_y"][heading], rays["delta_x"][heading]
    move_y = rays["step_y"][heading] * width
    move_x = rays["step_x"][heading]
    side_y, side_x = 0.5 * delta_y, 0.5 * delta_x  # from the cell centre to its first grid lines
    cell = np.broadcast_to(position[:, None], dy.shape).copy()
    base = map_base[:, None]
    hit = np.zeros(dy.shape, dtype=bool)
    t = np.zeros(dy.shape)
    x_side = np.zeros(dy.shape, dtype=bool)
    for _ in range(max_steps):
        go_x = side_x < side_y
        now = np.where(go_x, side_x, side_y)
        cell += np.where(hit, 0, np.where(go_x, move_x, move_y))
        side_x = np.where(go_x, side_x + delta_x, side_x)
        side_y = np.where(go_x, side_y, side_y + delta_y)
        new = wall_flat[base + cell] & ~hit
        t = np.where(new, now, t)
        x_side |= new & go_x
        hit |= new
        if hit.all():
            break
    if not hit.all():
        raise RuntimeError(f"a ray crossed {max_steps} cells without meeting a wall: the map is not closed")
    y0 = (position // width)[:, None] + 0.5
    x0 = (position % width)[:, None] + 0.5
    along = np.where(x_side, y0 + t * dy, x0 + t * dx)
    return t, cell, x_side, along - np.floor(along)


def wall_style(walls: np.ndarray, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Colour (H*W, 3) float32 and stripe count (H*W,) int of each cell of one map.

    A colour per 3x3 block of the map (neighbouring walls share it, so a region is
    recognisable) and 1-4 stripes per cell, both fixed by `seed` (the task's maze seed).
    """
    rng = np.random.default_rng(seed)
    height = walls.size // width
    blocks = rng.integers(0, len(WALL_PALETTE), ((height + 2) // 3, (width + 2) // 3))
    ys, xs = np.divmod(np.arange(walls.size), width)
    colour = WALL_PALETTE[blocks[ys // 3, xs // 3]]
    stripes = rng.integers(1, 5, walls.size)
    return colour.astype(np.float32), stripes


def background(size: int) -> np.ndarray:
    """Ceiling and floor: (3, S, S) float32 vertical gradients, brightest at the horizon."""
    rows = np.arange(size) + 0.5
    half = size / 2.0
    up = np.clip((half - rows) / half, 0, 1)[:, None]  # 1 at the top, 0 at the horizon
    down = np.clip((rows - half) / half, 0, 1)[:, None]
    ceiling = np.array(CEILING_HORIZON) * (1 - up) + np.array(CEILING_TOP) * up
    floor = np.array(FLOOR_HORIZON) * (1 - down) + np.array(FLOOR_NEAR) * down
    rgb = np.where((rows < half)[:, None], ceiling, floor)  # (S, 3)
    return np.broadcast_to(rgb.T[:, :, None], (3, size, size)).astype(np.float32).copy()


def shade_walls(colour: np.ndarray, stripes: np.ndarray, t: np.ndarray, x_side: np.ndarray, u: np.ndarray) -> np.ndarray:
    """(N, S, 3) wall colours of each column: cell colour x stripes x side x distance."""
    # 2 n + 1 bands across a face, the odd ones dark: n stripes, symmetric within the face.
    stripe = np.where(np.floor(u * (2 * stripes + 1)) % 2 == 1, STRIPE_SHADE, 1.0)
    light = stripe * np.where(x_side, X_SIDE_SHADE, 1.0) / (1.0 + FOG * t)
    return colour * light[..., None].astype(np.float32)


def compose(t: np.ndarray, wall_rgb: np.ndarray, sky_floor: np.ndarray) -> np.ndarray:
    """Walls over floor and ceiling: (N, 3, S, S), the dtype of the colours (uint8 in use).

    Column j shows the wall in rows r with |r + 0.5 - S/2| < S / (4 t).
    """
    size = sky_floor.shape[-1]
    offset = np.abs(np.arange(size) + 0.5 - size / 2.0)  # (S,) rows from the horizon
    is_wall = offset[None, :, None] < (size / 4.0) / t[:, None, :]  # (N, S rows, S cols)
    return np.where(is_wall[:, None], wall_rgb.transpose(0, 2, 1)[:, :, None, :], sky_floor[None])


def sprite_masks(depth: np.ndarray, lateral: np.ndarray, kind: np.ndarray, scale: np.ndarray, size: int,
                 zbuffer: np.ndarray) -> np.ndarray:
    """(K, S, S) pixels of K sprites, standing on the floor, cut where a wall is nearer.

    Args:
        depth, lateral: (K,) the sprite's cell centre relative to the agent (depth >= 1).
        kind: (K,) 0 disc, 1 diamond, 2 bar; scale: (K,) world size (height; bars are half as wide).
        zbuffer: (K, S) the wall distance of each column in the sprite's environment.
    """
    half = size / 2.0
    centre_col = half * (1.0 + lateral / depth)
    half_h = half * scale / depth / 2.0  # screen half-height of the sprite
    half_w = np.where(kind == 2, half_h / 2.0, half_h)
    centre_row = half + half * (0.5 - scale / 2.0) / depth  # its middle at height scale / 2
    pixels = np.arange(size) + 0.5
    px = np.abs(pixels[None, :] - centre_col[:, None]) / half_w[:, None]  # (K, S) in half-widths
    py = np.abs(pixels[None, :] - centre_row[:, None]) / half_h[:, None]
    out = np.zeros((depth.size, size, size), dtype=bool)
    shapes = (
        lambda a, b: a * a + b * b < 1.0,  # disc
        lambda a, b: a + b < 1.0,  # diamond
        lambda a, b: (a < 1.0) & (b < 1.0),  # bar
    )
    for k, inside in enumerate(shapes):  # a loop over the three kinds of sprite
        rows = np.flatnonzero(kind == k)
        if rows.size:
            out[rows] = inside(px[rows, None, :], py[rows, :, None])
    return out & (zbuffer > depth[:, None])[:, None, :]


class FirstPersonRenderer:
    """Renders every environment of a `GridTaskVecEnv` as a (3, S, S) uint8 frame.

    Built once per engine from its maps (per-task wall colours, ray tables); `render`
    reads the engine's state (grid, position, heading, bots) and touches nothing.
    """

    def __init__(self, engine, image_size: int, cache: bool = True):
        check_view("first_person", image_size)
        self.cache = cache
        self._frames = self._depths = self._slot = None  # the wall cache, built on first use
        self.size = int(image_size)
        self.width = engine.width
        styles = [wall_style(w, engine.width, t.maze.seed) for w, t in zip(engine.walls, engine.config.tasks)]
        self.wall_colour = np.concatenate([s[0] for s in styles])  # (T*HW, 3)
        self.wall_stripes = np.concatenate([s[1] for s in styles])
        self.rays = ray_tables(self.size)
        self.sky_floor = background(self.size).astype(np.uint8)
        self.max_steps = engine.cells_per_map // engine.width + engine.width  # a ray crosses at most H + W cells
        codes = sorted(SPRITES)
        self._sprite_kind = np.zeros(max(codes) + 1, dtype=np.int64)
        self._sprite_scale = np.zeros(max(codes) + 1)
        self._sprite_rgb = np.zeros((max(codes) + 1, 3), dtype=np.float32)
        for code, (kind, scale, rgb) in SPRITES.items():
            self._sprite_kind[code], self._sprite_scale[code], self._sprite_rgb[code] = kind, scale, rgb

    @property
    def shape(self) -> tuple[int, int, int]:
        return (3, self.size, self.size)

    def render(self, engine) -> np.ndarray:
        """(N, 3, S, S) uint8 frames of every environment of `engine`."""
        if self.cache and self._frames is None:
            self._build_cache(engine)
        if self._frames is not None:
            row = self._slot[engine._task_base + engine.position] * 4 + engine.heading
            image, t = self._frames[row], self._depths[row]
        else:
            image, t = self.render_walls(engine._wall_flat, engine._task_base, engine.position, engine.heading)
        self._draw_sprites(engine, image, t)
        return image

    def render_walls(self, wall_flat: np.ndarray, map_base: np.ndarray, position: np.ndarray, heading: np.ndarray):
        """Walls, floor and ceiling seen from each (map, cell, heading): (K, 3, S, S) uint8 and t (K, S)."""
        t, cell, x_side, u = cast_rays(wall_flat, self.width, map_base, position, heading, self.rays, self.max_steps)
        flat = map_base[:, None] + cell
        wall_rgb = shade_walls(self.wall_colour[flat], self.wall_stripes[flat], t, x_side, u).astype(np.uint8)
        return compose(t, wall_rgb, self.sky_floor), t

    def _build_cache(self, engine) -> None:
        """Walls depend only on (task, cell, heading): render every free cell's four views once.

        The cache holds exactly what `render_walls` draws (the same function, batched over
        all views of all tasks); frames beyond CACHE_LIMIT_MIB fall back to rendering walls
        every step. It is not pickled (checkpoints stay small) and is rebuilt on first use.
        """
        hw = engine.cells_per_map
        free = np.flatnonzero(~engine._wall_flat)  # cells of every task's map, offset by task * HW
        if free.size * 4 * 3 * self.size**2 > CACHE_LIMIT_MIB * 2**20:
            self.cache = False
            return
        slot = np.zeros(engine._wall_flat.size, dtype=np.int64)  # walls map to slot 0, never used
        slot[free] = np.arange(free.size)
        views = np.repeat(free, 4)
        heading = np.tile(np.arange(4), free.size)
        base = (views // hw) * hw
        frames, depths = [], []
        for start in range(0, views.size, 1024):  # chunks bound the temporary memory
            part = slice(start, start + 1024)
            image, t = self.render_walls(engine._wall_flat, base[part], views[part] - base[part], heading[part])
            frames.append(image)
            depths.append(t)
        self._frames, self._depths, self._slot = np.concatenate(frames), np.concatenate(depths), slot

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_frames"] = state["_depths"] = state["_slot"] = None
        return state

    def _sprites(self, engine) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every object and active bot of every environment: (env, cell, code), each (K,)."""
        item = (engine.grid == APPLE) | (engine.grid == GOAL)
        env, cell = np.nonzero(item)
        code = engine.grid[env, cell].astype(np.int64)
        if engine.max_bots:
            active = np.arange(engine.max_bots)[None, :] < engine._num_bots[engine.task_ids][:, None]
            bot_env, slot = np.nonzero(active)
            env = np.concatenate([env, bot_env])
            cell = np.concatenate([cell, engine.bot_cell[bot_env, slot]])
            code = np.concatenate([code, np.full(bot_env.size, BOT)])
        return env, cell, code

    def _draw_sprites(self, engine, image: np.ndarray, t: np.ndarray) -> None:
        env, cell, code = self._sprites(engine)
        if env.size == 0:
            return
        w = self.width
        heading = engine.heading[env]
        off_y = cell // w - engine.position[env] // w
        off_x = cell % w - engine.position[env] % w
        forward, right = DIRECTIONS[heading], DIRECTIONS[(heading + 1) & 3]
        depth = off_y * forward[:, 0] + off_x * forward[:, 1]
        lateral = off_y * right[:, 0] + off_x * right[:, 1]
        scale = self._sprite_scale[code]
        seen = (depth >= 1) & (np.abs(lateral) - scale / 2 < depth)  # in front, inside the field of view
        seen &= depth < t[env].max(axis=1)  # not beyond the farthest wall of that view
        if not seen.any():
            return
        env, depth, lateral, code = env[seen], depth[seen].astype(np.float64), lateral[seen], code[seen]
        masks = sprite_masks(depth, lateral, self._sprite_kind[code], self._sprite_scale[code], self.size, t[env])
        k, r, c = np.nonzero(masks)
        # Each pixel shows its nearest sprite (a bot over an object in the same cell).
        pixel = (env[k] * self.size + r) * self.size + c
        order = np.lexsort((code[k] != BOT, depth[k], pixel))
        first = np.ones(order.size, dtype=bool)
        first[1:] = pixel[order[1:]] != pixel[order[:-1]]
        k, r, c = k[order[first]], r[order[first]], c[order[first]]
        rgb = (self._sprite_rgb[code] / (1.0 + FOG * depth)[:, None]).astype(np.uint8)
        image[env[k], :, r, c] = rgb[k]
