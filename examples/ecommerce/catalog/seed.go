package catalog

// SeedProducts is the catalog a new database starts with (ids are assigned
// when seeding). Prices are in cents.
var SeedProducts = []Product{
	{Name: "Pour-over coffee dripper", Description: "Ceramic cone dripper for one to two cups; fits size 02 filters.", PriceCents: 2400, Stock: 120},
	{Name: "Paper filters, size 02 (100)", Description: "Unbleached paper filters for cone drippers.", PriceCents: 650, Stock: 800},
	{Name: "Burr coffee grinder", Description: "Hand grinder with stainless steel conical burrs and 40 click settings.", PriceCents: 8900, Stock: 45},
	{Name: "Gooseneck kettle, 1 l", Description: "Stovetop kettle with a thin spout for a steady pour.", PriceCents: 4500, Stock: 60},
	{Name: "Whole bean coffee, Ethiopia (250 g)", Description: "Washed heirloom beans with notes of jasmine and lemon. Roasted weekly.", PriceCents: 1450, Stock: 300},
	{Name: "Whole bean coffee, Colombia (250 g)", Description: "Medium roast with notes of caramel and red apple.", PriceCents: 1250, Stock: 300},
	{Name: "Loose-leaf green tea (100 g)", Description: "Japanese sencha, first flush.", PriceCents: 1800, Stock: 150},
	{Name: "Double-walled glass mug", Description: "Keeps drinks hot and hands cool; 350 ml.", PriceCents: 1600, Stock: 200},
	{Name: "Cast iron skillet, 26 cm", Description: "Pre-seasoned skillet for stovetop, oven and campfire.", PriceCents: 3900, Stock: 80},
	{Name: "Chef's knife, 20 cm", Description: "Forged stainless steel blade with a full tang and a walnut handle.", PriceCents: 7900, Stock: 40},
	{Name: "End-grain cutting board", Description: "Oiled maple board, 40 × 30 cm, gentle on knife edges.", PriceCents: 6500, Stock: 35},
	{Name: "Linen apron", Description: "Stonewashed linen with two front pockets and adjustable straps.", PriceCents: 3200, Stock: 90},
	{Name: "Beeswax food wraps (set of 3)", Description: "Reusable wraps in three sizes instead of cling film.", PriceCents: 1900, Stock: 250},
	{Name: "Stainless steel water bottle, 750 ml", Description: "Vacuum insulated: cold for 24 hours, hot for 12.", PriceCents: 2900, Stock: 180},
	{Name: "Merino wool socks", Description: "Cushioned hiking socks that stay warm when wet.", PriceCents: 1800, Stock: 400},
	{Name: "Trail running cap", Description: "Light quick-drying cap with a reflective band.", PriceCents: 2200, Stock: 140},
	{Name: "Ultralight daypack, 20 l", Description: "Ripstop nylon pack with a hydration sleeve; 380 g.", PriceCents: 6900, Stock: 55},
	{Name: "Headlamp, 400 lumen", Description: "Rechargeable over USB-C, with a red night mode.", PriceCents: 3900, Stock: 110},
	{Name: "Camping stove", Description: "Compact canister stove that boils a litre in about four minutes.", PriceCents: 4900, Stock: 50},
	{Name: "Enamel camping mug", Description: "Classic steel mug with an enamel coat; 400 ml.", PriceCents: 1100, Stock: 220},
	{Name: "Notebook, dotted A5", Description: "192 numbered pages of 100 g/m² paper that takes fountain pens.", PriceCents: 1700, Stock: 350},
	{Name: "Fountain pen, fine nib", Description: "Steel nib, converter included; writes with any bottled ink.", PriceCents: 3500, Stock: 75},
	{Name: "Desk lamp", Description: "Dimmable LED lamp with an adjustable arm and a warm white light.", PriceCents: 5900, Stock: 65},
	{Name: "Wool throw blanket", Description: "Woven lambswool, 130 × 180 cm.", PriceCents: 8900, Stock: 30},
}
